package transport_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/bwlimit"
	"github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// TestStreamsToATargetPassItsTokenBuckets: the bytes a script writes to
// and reads from a target go through the run's token buckets (counted,
// and paced on the buckets' clock): a target's bwlimit option limits that
// target, --bwlimit (the run's) the sum over targets.
func TestStreamsToATargetPassItsTokenBuckets(t *testing.T) {
	mib := func(n int) time.Duration { return time.Duration(n) * time.Second }
	cases := []struct {
		name      string
		run, each string // --bwlimit, --bwlimit-target
		script    string
		wantErr   string
		took      time.Duration // on the fake clock
		up, down  int64         // through the first target's buckets
	}{
		{"a target's bwlimit option paces the writes and reads to it", "", "", `
			local t = require("transport").open(arg.url, { bwlimit = "1M" })
			t:write("a", string.rep("x", 3 * 1048576))
			assert(#t:read("a") == 3 * 1048576)
		`, "", mib(2 + 2), 3 << 20, 3 << 20},
		{"bwlimit= in the URL's query does the same", "", "", `
			local t = require("transport").open(arg.url .. "?bwlimit=1M:off")
			t:write("a", string.rep("x", 5 * 1048576))
			assert(#t:read("a") == 5 * 1048576)
		`, "", mib(4), 5 << 20, 5 << 20},
		{"--bwlimit-target applies to a target without its own option", "", "2M", `
			local t = require("transport").open(arg.url)
			t:write("a", string.rep("x", 6 * 1048576))
		`, "", mib(2), 6 << 20, 0},
		{"--bwlimit caps the sum of two targets", "1M", "", `
			local transport = require "transport"
			local a = transport.open(arg.url .. "/a")
			local b = transport.open(arg.url .. "/b")
			a:write("f", string.rep("x", 2 * 1048576))
			b:write("f", string.rep("x", 2 * 1048576))
		`, "", mib(3), 0, 0},
		{"off limits nothing", "", "", `
			local t = require("transport").open(arg.url, { bwlimit = "off" })
			t:write("a", string.rep("x", 15 * 1048576))
		`, "", 0, 0, 0},
		{"two different limits for one target are an error", "", "", `
			local transport = require "transport"
			transport.open(arg.url .. "/a", { bwlimit = "1M" })
			transport.open(arg.url .. "/b", { bwlimit = "2M" })
		`, "already limits that target to 1M", 0, 0, 0},
		{"a bad rate is an invalid argument", "", "", `
			require("transport").open(arg.url, { bwlimit = "fast" })
		`, "invalid_argument", 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			start := time.Date(2026, 12, 7, 23, 0, 0, 0, time.Local)
			clock := bwlimit.NewFakeClock(start)
			parse := func(s string) bwlimit.Schedule {
				if s == "" {
					return bwlimit.Schedule{}
				}
				x, err := bwlimit.Parse(s)
				if err != nil {
					t.Fatal(err)
				}
				return x
			}
			bw := transports.NewBandwidth(parse(tc.run), parse(tc.each), clock)
			err, logs := run(t, dir, tc.script, func(o *runtime.Options) { transport.ShareBandwidth(o, bw) })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, logs)
			}
			if took := clock.Now().Sub(start); took < tc.took-time.Millisecond || took > tc.took+time.Millisecond {
				t.Errorf("took %v on the buckets' clock, want %v", took, tc.took)
			}
			up, down := bw.Taken("file://")
			if tc.up != 0 && (up != tc.up || down != tc.down) {
				t.Errorf("the target's buckets passed %d up, %d down; want %d, %d", up, down, tc.up, tc.down)
			}
		})
	}
}
