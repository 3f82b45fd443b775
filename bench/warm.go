package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// warmMemory writes once to most of the machine's free memory and gives
// it back, before any figure is measured. A virtual machine may back its
// memory lazily: here the first write to a page of a fresh machine cost
// about 1.8 s of system time per GiB (a 1 GiB file written with dd: 1.3 s
// the first time, 0.13 s the next), so whichever side of a ratio first
// grew the page cache paid for it, and a figure measured the machine's
// history instead of the program. It returns what it did, for the
// report's machine section; gib caps it (0: no warm-up).
//
// The writing is done by a child process (this program again, with
// --warm-only): Linux hands the peak RSS of the process that starts a
// child to the child's own peak (exec records the memory it replaces),
// so a harness that had grown to 20 GiB would report 20 GiB for every
// process it runs after (figures 6b and 9).
func warmMemory(ctx context.Context, gib int) string {
	if gib <= 0 {
		return ""
	}
	avail := memAvailable()
	n := min(gib, int(avail>>30)-2) // leave 2 GiB
	if n <= 0 {
		return fmt.Sprintf("memory not warmed (%.1f GiB available)", float64(avail)/(1<<30))
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Sprintf("memory not warmed: %v", err)
	}
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, self, "--warm-only", strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("memory not warmed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return fmt.Sprintf("memory warmed: %s GiB written once and freed before the figures, in %s, by a child process (a VM that backs its memory lazily makes a first write to a page cost far more than the next)", strings.TrimSpace(string(out)), time.Since(t0).Round(time.Second))
}

// touchMemory is --warm-only: it writes to every page of n GiB and prints
// how many GiB it could map.
func touchMemory(n int) {
	done := 0
	for range n {
		b, err := syscall.Mmap(-1, 0, 1<<30, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			break
		}
		for i := 0; i < len(b); i += os.Getpagesize() {
			b[i] = 1
		}
		done++
	}
	fmt.Println(done)
}

// memAvailable is MemAvailable from /proc/meminfo, in bytes (0 if unknown).
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
