package main

import (
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"runtime/trace"
)

// Profiling for developers, by environment so that no flag shows in
// --help and any command (run, sim, ...) can be profiled the same way:
//
//	VMLUA_CPUPROFILE=FILE    CPU profile of the whole command
//	VMLUA_BLOCKPROFILE=FILE  blocking profile (every blocking event)
//	VMLUA_MUTEXPROFILE=FILE  mutex contention profile
//	VMLUA_TRACE=FILE         execution trace (go tool trace)
//
// The profiles are written when the command returns (for `vmlua sim`: on
// SIGINT/SIGTERM).
func startProfiles(stderr io.Writer) (stop func()) {
	var stops []func()
	fail := func(what string, err error) { fmt.Fprintf(stderr, "vmlua: %s: %v\n", what, err) }
	if p := os.Getenv("VMLUA_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err != nil {
			fail("VMLUA_CPUPROFILE", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			fail("VMLUA_CPUPROFILE", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if p := os.Getenv("VMLUA_TRACE"); p != "" {
		if f, err := os.Create(p); err != nil {
			fail("VMLUA_TRACE", err)
		} else if err := trace.Start(f); err != nil {
			f.Close()
			fail("VMLUA_TRACE", err)
		} else {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		}
	}
	for _, x := range []struct{ env, name string }{{"VMLUA_BLOCKPROFILE", "block"}, {"VMLUA_MUTEXPROFILE", "mutex"}} {
		p := os.Getenv(x.env)
		if p == "" {
			continue
		}
		if x.name == "block" {
			goruntime.SetBlockProfileRate(1)
		} else {
			goruntime.SetMutexProfileFraction(1)
		}
		stops = append(stops, func() {
			f, err := os.Create(p)
			if err == nil {
				err = pprof.Lookup(x.name).WriteTo(f, 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				fail(x.env, err)
			}
		})
	}
	return func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
}
