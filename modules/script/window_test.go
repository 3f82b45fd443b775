package script_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/bwlimit"
	"github.com/vmlua/vmlua/internal/window"
	"github.com/vmlua/vmlua/modules/script"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// TestWindowClosedSaysWhenNoNewVMMayStart: script.window_closed() asks
// the run's window (--window), script.window_closed(w) a window the script
// names; nil while it is open, why not once it closed. A test module moves
// the fake clock the run's window reads.
func TestWindowClosedSaysWhenNoNewVMMayStart(t *testing.T) {
	cases := []struct {
		name   string
		shared string // --window; "" none
		src    string
	}{
		{"no window: always open", "", `
			assert(script.window_closed() == nil)
			clock.advance(48)
			assert(script.window_closed() == nil)
		`},
		{"the run's window closes at 06:00", "22:00-06:00", `
			assert(script.window_closed() == nil)
			clock.advance(6.9)
			assert(script.window_closed() == nil, "05:54 is in the window")
			clock.advance(0.1)
			local why = script.window_closed()
			assert(why == "not started: the window 22:00-06:00 closed at 06:00 Tue", why)
			clock.advance(23)
			assert(script.window_closed() ~= nil, "the next evening's window is not this run's")
		`},
		{"a window the script names, on the run's clock", "22:00-06:00", `
			assert(script.window_closed("23:00-01:00") == nil)
			clock.advance(2)
			assert(script.window_closed("23:00-01:00"):find("closed at 01:00"))
			assert(script.window_closed() == nil, "the run's own is still open")
		`},
		{"a bad window is an argument error", "", `
			local ok, err = pcall(script.window_closed, "22-06")
			assert(not ok and tostring(err):find("want HH:MM"), tostring(err))
		`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := bwlimit.NewFakeClock(time.Date(2026, 12, 7, 23, 0, 0, 0, time.Local))
			clockMod := &runtime.Module{Name: "clock", Summary: "test", Funcs: []runtime.Func{{
				Name: "advance", Doc: "moves the fake clock by hours",
				Fn: func(r *runtime.Run, L *lua.LState) int {
					fc.Advance(time.Duration(float64(L.CheckNumber(1)) * float64(time.Hour)))
					return 0
				},
			}}}
			var logs bytes.Buffer
			o := runtime.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Modules: []*runtime.Module{script.Module, clockMod}, Timeout: 20 * time.Second}
			if tc.shared != "" {
				w, err := window.Parse(tc.shared)
				if err != nil {
					t.Fatal(err)
				}
				script.ShareWindow(&o, window.NewGate(w, fc.Now))
			}
			r, err := runtime.New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.ExecString("t.lua", "local script, clock = require 'script', require 'clock'\n"+tc.src); err != nil {
				t.Fatalf("%v\n%s", err, logs.String())
			}
		})
	}
}
