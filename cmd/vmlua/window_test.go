package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/bwlimit"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// withFakeClock makes the runs of this process read the time from c, and
// gives scripts a "testclock" module whose advance(hours) moves it: a
// VM's backup that "takes" an hour.
func withFakeClock(t *testing.T, c *bwlimit.FakeClock) {
	oldClock, oldModules := clock, modules
	t.Cleanup(func() { clock, modules = oldClock, oldModules })
	clock = c
	mod := &runtime.Module{Name: "testclock", Summary: "a fake clock (tests only)", Funcs: []runtime.Func{{
		Name: "advance", Args: []runtime.Arg{{Name: "hours", Type: "number", Doc: "how far"}},
		Fn: func(r *runtime.Run, L *lua.LState) int {
			c.Advance(time.Duration(float64(L.CheckNumber(1)) * float64(time.Hour)))
			return 0
		},
	}}}
	modules = func() []*runtime.Module { return append(oldModules(), mod) }
	home := t.TempDir() // no config file anywhere vmlua looks
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("VMLUA_CONFIG", "")
	t.Chdir(home)
}

// TestEachStartsNoVMOnceTheWindowCloses: with --each --jobs 1 and a
// window 22:00-01:30, each VM's run takes an hour on the fake clock from
// 23:00: VMs start at 23:00, 00:00 and 01:00, the fourth would start at
// 02:00 and is not started; the table says so and why, and the run exits
// 7 (partial). Started outside the window, no VM starts.
func TestEachStartsNoVMOnceTheWindowCloses(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 4, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := script(t, `
		require("script").args{ vm = { each = true } }
		print("backed up " .. arg.vm_name)
		require("testclock").advance(1)
	`)
	cases := []struct {
		name       string
		start      time.Time
		window     []string // flags
		config     string   // the config file's [limits]
		wantRan    int
		wantReason string
		wantExit   int
	}{
		{"the window closes at 01:30, after three VMs", time.Date(2026, 12, 7, 23, 0, 0, 0, time.Local), []string{"--window", "22:00-01:30"}, "", 3, "not started: the window 22:00-01:30 closed at 01:30 Tue", exitPartial},
		{"a window that stays open runs every VM", time.Date(2026, 12, 7, 23, 0, 0, 0, time.Local), []string{"--window", "22:00-06:00"}, "", 4, "", exitOK},
		{"a run that starts outside its window starts no VM", time.Date(2026, 12, 7, 12, 0, 0, 0, time.Local), []string{"--window", "22:00-06:00"}, "", 0, "not started: the run began outside its window 22:00-06:00 (it opens at 22:00 Mon)", exitPartial},
		{"a bad window is a usage error", time.Date(2026, 12, 7, 23, 0, 0, 0, time.Local), []string{"--window", "22:00"}, "", 0, "--window: window \"22:00\"", exitUsage},
		{"the config's [limits] window does the same", time.Date(2026, 12, 7, 23, 0, 0, 0, time.Local), nil, `window = "22:00-01:30"`, 3, "not started: the window 22:00-01:30 closed at 01:30 Tue", exitPartial},
		{"--window overrides the config's", time.Date(2026, 12, 7, 23, 0, 0, 0, time.Local), []string{"--window", "22:00-06:00"}, `window = "22:00-01:30"`, 4, "", exitOK},
		{"a bad bwlimit in the config is a config error", time.Date(2026, 12, 7, 23, 0, 0, 0, time.Local), nil, `bwlimit = "fast"`, 0, "config [limits] bwlimit: bwlimit \"fast\"", exitConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withFakeClock(t, bwlimit.NewFakeClock(tc.start))
			if tc.config != "" {
				if err := os.WriteFile("vmlua.toml", []byte("[limits]\n"+tc.config+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out, errb bytes.Buffer
			args := append([]string{"run", "--url", s.URL.String(), "--insecure", "--each", "name:VM*", "--jobs", "1"}, tc.window...)
			code := dispatch(append(args, src), &out, &errb)
			o := out.String() + errb.String()
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.wantExit, o)
			}
			if got := strings.Count(o, "backed up VM"); got != tc.wantRan {
				t.Errorf("%d VMs ran, want %d:\n%s", got, tc.wantRan, o)
			}
			if tc.wantExit == exitUsage || tc.wantExit == exitConfig {
				if !strings.Contains(o, tc.wantReason) {
					t.Errorf("output lacks %q:\n%s", tc.wantReason, o)
				}
				return
			}
			rows := regexp.MustCompile(`(?m)^VM\d\s+\S*\s+not_started\s.*$`).FindAllString(out.String(), -1)
			if len(rows) != 4-tc.wantRan {
				t.Errorf("%d rows say not_started, want %d:\n%s", len(rows), 4-tc.wantRan, o)
			}
			for _, r := range rows {
				if !strings.Contains(r, tc.wantReason) {
					t.Errorf("row %q lacks why: %q", r, tc.wantReason)
				}
			}
		})
	}
}

// TestAShippedScriptStartsNoVMOnceTheWindowClosesAndItsBytesPassTheBwlimit:
// backup_all.lua under --bwlimit 1M:off and --window 22:00-01:30 from
// 01:29:58 on the fake clock: the first VM's backup uploads more than
// 3 MiB through the run's token bucket, which moves the bucket's clock
// past 01:30 (the bytes are in the stream path, and counted); so the
// script's loop starts no second VM, lists the ones it did not start and
// exits 7.
func TestAShippedScriptStartsNoVMOnceTheWindowClosesAndItsBytesPassTheBwlimit(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 3, DiskSize: 8 << 20, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		script string
		args   []string
		want   []string // in the summary
	}{
		{"backup_all.lua", []string{"vms=name:VM*", "compress=none"}, []string{"1 of 3 VM(s) backed up", "VM2, VM3 not started: the window 22:00-01:30 closed at 01:30 Tue"}},
		{"nightly.lua", []string{"vms=name:VM*", "compress=none", "keep=2"}, []string{"VM2, VM3 not started: the window 22:00-01:30 closed at 01:30 Tue", "1 set(s) written"}},
	} {
		t.Run(tc.script, func(t *testing.T) {
			start := time.Date(2026, 12, 8, 1, 29, 58, 0, time.Local)
			fc := bwlimit.NewFakeClock(start)
			withFakeClock(t, fc)
			dir := t.TempDir()
			var out, errb bytes.Buffer
			args := append([]string{"run", "--url", s.URL.String(), "--insecure", "--allow", "file://" + dir,
				"--bwlimit", "1M:off", "--window", "22:00-01:30", tc.script, "to=file://" + dir, "notify=never"}, tc.args...)
			code := dispatch(args, &out, &errb)
			o := out.String() + errb.String()
			if code != exitPartial {
				t.Fatalf("exit %d, want 7 (partial):\n%s", code, o)
			}
			for _, w := range tc.want {
				if !strings.Contains(o, w) {
					t.Errorf("the summary lacks %q:\n%s", w, o)
				}
			}
			checkPaced(t, dir, fc, start)
		})
	}
}

// checkPaced checks that every byte stored in dir passed a 1 MiB/s
// bucket on fc: its clock moved at least (stored - the bucket's one
// second of burst) / rate since start.
func checkPaced(t *testing.T, dir string, fc *bwlimit.FakeClock, start time.Time) {
	t.Helper()
	var stored int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				stored += fi.Size()
			}
		}
		return nil
	})
	want := time.Duration(float64(stored-(1<<20)) / (1 << 20) * float64(time.Second))
	if took := fc.Now().Sub(start); stored < 3<<20 || took < want-time.Millisecond {
		t.Errorf("%d bytes stored, the bucket's clock moved %v; want more than 3 MiB and at least %v", stored, took, want)
	}
}
