package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
)

// jsonLines is what vmlua writes to stderr under --log-format json: one
// JSON object a line, whatever wrote the line. Log records pass as they
// are; any other line (the error a run ended with, a script check
// refused, the script's print under --json) becomes a record of its own,
// at the writer's level, with the line as its message. A log collector
// then never meets a line it cannot parse.
type jsonLines struct {
	mu  sync.Mutex
	log *slog.Logger // writes the records made of plain lines
	lvl slog.Level
	w   io.Writer
	buf []byte // an unfinished line
}

// newJSONLines wraps w: plain lines become records at level lvl with
// attrs (print's lines: stream=print).
func newJSONLines(w io.Writer, lvl slog.Level, attrs ...slog.Attr) *jsonLines {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}).WithAttrs(attrs)
	return &jsonLines{log: slog.New(h), lvl: lvl, w: w}
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(j.buf, p...)
	for {
		i := bytes.IndexByte(j.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := j.buf[:i]
		if err := j.line(line); err != nil {
			return len(p), err
		}
		j.buf = j.buf[i+1:]
	}
}

// line writes one complete line (without its newline).
func (j *jsonLines) line(line []byte) error {
	if len(line) > 0 && line[0] == '{' && json.Valid(line) {
		_, err := j.w.Write(append(line, '\n'))
		return err
	}
	j.log.Log(context.Background(), j.lvl, string(line))
	return nil
}

// Flush writes what is left of an unfinished line.
func (j *jsonLines) Flush() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.buf) > 0 {
		_ = j.line(j.buf)
		j.buf = nil
	}
}

// jsonStderr returns stderr as a command under --log-format format should
// write to it, and what to call when the command ends.
func jsonStderr(stderr io.Writer, format string) (io.Writer, func()) {
	if format != "json" {
		return stderr, func() {}
	}
	j := newJSONLines(stderr, slog.LevelError)
	return j, j.Flush
}
