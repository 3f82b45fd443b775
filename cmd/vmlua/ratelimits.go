package main

import (
	"fmt"
	"time"

	"github.com/vmlua/vmlua/internal/bwlimit"
	"github.com/vmlua/vmlua/internal/cli/config"
	"github.com/vmlua/vmlua/internal/window"
	modscript "github.com/vmlua/vmlua/modules/script"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// clock is where a run reads the time for its --window and --bwlimit (a
// variable so that in-process tests move it).
var clock bwlimit.Clock = bwlimit.System

// rateLimits gives the runs made from o the bandwidth limits and the
// backup window of the flags, else of the config's [limits]. A value that
// does not parse is a usage error (a flag) or a config error.
func (f *runFlags) rateLimits(o *runtime.Options, lim config.Limits) error {
	pick := func(flagName, flagVal, key, cfgVal string) (string, func(error) error) {
		if flagVal != "" {
			return flagVal, func(err error) error { return &exitError{exitUsage, fmt.Errorf("--%s: %w", flagName, err)} }
		}
		return cfgVal, func(err error) error { return &exitError{exitConfig, fmt.Errorf("config [limits] %s: %w", key, err)} }
	}
	schedule := func(flagName, flagVal, key, cfgVal string) (bwlimit.Schedule, error) {
		v, wrap := pick(flagName, flagVal, key, cfgVal)
		if v == "" {
			return bwlimit.Schedule{}, nil
		}
		s, err := bwlimit.Parse(v)
		if err != nil {
			return bwlimit.Schedule{}, wrap(err)
		}
		return s, nil
	}
	run, err := schedule("bwlimit", f.bwlimit, "bwlimit", lim.Bwlimit)
	if err != nil {
		return err
	}
	each, err := schedule("bwlimit-target", f.bwlimitTarget, "bwlimit_target", lim.BwlimitTarget)
	if err != nil {
		return err
	}
	// Always one Bandwidth for all the runs of this command, so that a
	// target's own bwlimit= is shared by every run of a fleet too.
	modtransport.ShareBandwidth(o, transports.NewBandwidth(run, each, clock))
	if v, wrap := pick("window", f.window, "window", lim.Window); v != "" {
		w, err := window.Parse(v)
		if err != nil {
			return wrap(err)
		}
		modscript.ShareWindow(o, window.NewGate(w, func() time.Time { return clock.Now() }))
	}
	return nil
}
