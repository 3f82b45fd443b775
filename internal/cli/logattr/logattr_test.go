package logattr

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestEveryKeyIsWrittenOnceWithTheMostSpecificValue(t *testing.T) {
	cases := []struct {
		name string
		log  func(l *slog.Logger)
		want string // the JSON object without time and level
	}{
		{"a record repeating a With key keeps the record's value once", func(l *slog.Logger) {
			l.With("vm", "DB01").Info("m", "vm", "DB01", "disk", "scsi0:0")
		}, `{"msg":"m","vm":"DB01","disk":"scsi0:0"}`},
		{"a record naming another VM wins over the logger's", func(l *slog.Logger) {
			l.With("vm", "DB01").Info("m", "vm", "VM2")
		}, `{"msg":"m","vm":"VM2"}`},
		{"two Withs of a key keep the later", func(l *slog.Logger) {
			l.With("vm", "a").With("vm", "b").Info("m")
		}, `{"msg":"m","vm":"b"}`},
		{"a key twice in one record keeps the last", func(l *slog.Logger) {
			l.Info("m", "code", "x", "code", "y")
		}, `{"msg":"m","code":"y"}`},
		{"a record's level is moved off the handler's own level key", func(l *slog.Logger) {
			l.Info("m", "level", 0, "msg", "x")
		}, `{"msg":"m","attr_level":0,"attr_msg":"x"}`},
		{"the same key inside and outside a group are different keys", func(l *slog.Logger) {
			l.With("vm", "a").WithGroup("g").With("vm", "b").Info("m", "vm", "c")
		}, `{"msg":"m","vm":"a","g":{"vm":"c"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.log(slog.New(New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
				if len(g) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
					return slog.Attr{}
				}
				return a
			}}))))
			if got := strings.TrimSpace(b.String()); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(b.Bytes()) {
				t.Errorf("not JSON: %s", b.String())
			}
		})
	}
}
