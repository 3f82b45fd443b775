package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmlua/vmlua/internal/config"
	"github.com/vmlua/vmlua/internal/logattr"
	"github.com/vmlua/vmlua/internal/progress"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmlua/vmlua/runtime"
)

func init() {
	register(command{name: "run", summary: "run a Lua script", run: cmdRun})
}

// modules lists the Lua modules runs get (a variable so that tests can add
// a module of their own).
var modules = all.Modules

// runFlags are the flags shared by the commands that run scripts.
type runFlags struct {
	url, profile, thumbprint, configPath, lib, logFormat, logLevel string
	insecure, dryRun                                               bool
	answer                                                         string // run --answer RULES.lua
	allow                                                          stringList
	timeout                                                        time.Duration
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "vSphere SDK URL (https://host/sdk; may carry user:password like govc, prefer the config file); env VMLUA_URL")
	fs.StringVar(&f.profile, "profile", "", "vSphere profile from the config file (default: default_vsphere, or the only one)")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the vSphere server's TLS certificate; env VMLUA_INSECURE")
	fs.StringVar(&f.thumbprint, "thumbprint", "", "pin the vSphere server's certificate by its SHA-1/SHA-256 fingerprint; env VMLUA_THUMBPRINT")
	fs.StringVar(&f.configPath, "config", "", "config file (default: $VMLUA_CONFIG, ./vmlua.toml, ~/.config/vmlua/config.toml, /etc/vmlua/config.toml)")
	fs.Var(&f.allow, "allow", "grant the script a transport URL prefix, e.g. sftp://backup@nas/backups/ (repeatable)")
	fs.DurationVar(&f.timeout, "timeout", 0, fmt.Sprintf("wall-clock limit of the script (default %v, or [limits] timeout)", runtime.DefaultTimeout))
	fs.StringVar(&f.lib, "lib", "", "directory of the site's own Lua modules, for require (read-only)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "log what would change; change nothing")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

// exitError is a failure with the exit status it maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// options builds runtime options from flags, config and environment.
func (f *runFlags) options(ctx context.Context, stderr io.Writer, args []string) (runtime.Options, error) {
	logger, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return runtime.Options{}, &exitError{exitUsage, err}
	}
	cfg, err := config.Load(f.configPath)
	if err != nil {
		return runtime.Options{}, &exitError{exitConfig, err}
	}
	eps, def, err := cfg.Endpoints(config.Overrides{URL: f.url, Profile: f.profile, Insecure: f.insecure, Thumbprint: f.thumbprint}, os.Getenv)
	if err != nil {
		return runtime.Options{}, &exitError{exitConfig, err}
	}
	creds, err := cfg.TransportCredentials()
	if err != nil {
		return runtime.Options{}, &exitError{exitConfig, err}
	}
	// Progress goes to stderr with the logs: bars on a terminal, lines
	// otherwise; none with JSON logs, which must stay one record a line.
	var prog runtime.Progress
	if f.logFormat != "json" {
		prog = progress.New(stderr, progress.Options{})
	}
	opts := runtime.Options{
		Progress: prog,
		Context:  ctx, Logger: logger, Modules: modules(), DryRun: f.dryRun,
		Timeout: f.timeout, LibDir: f.lib, Args: args,
		Endpoints: eps, DefaultEndpoint: def, Credentials: creds,
	}
	if opts.Timeout == 0 {
		opts.Timeout = cfg.Limits.Timeout.Duration
	}
	if opts.LibDir == "" {
		opts.LibDir = cfg.Lib
	}
	for _, a := range append(append([]string{}, cfg.Grants.Allow...), f.allow...) {
		if err := opts.Grants.Allow(a); err != nil {
			return runtime.Options{}, &exitError{exitConfig, err}
		}
	}
	return opts, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(logattr.New(slog.NewJSONHandler(w, ho))), nil
	case "text":
		ho.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(a.Key, a.Value.Time().Format("15:04:05"))
			}
			return a
		}
		return slog.New(logattr.New(slog.NewTextHandler(w, ho))), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// signalContext is cancelled by the first SIGINT or SIGTERM. Later signals
// are reported but do not stop the cleanup that follows.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case s := <-ch:
				n++
				if n == 1 {
					cancel(fmt.Errorf("received %v", s))
				} else {
					fmt.Fprintf(stderr, "vmlua: received %v again; cleanup is running and is bounded by its timeout, please wait\n", s)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, func() { signal.Stop(ch); close(done); cancel(nil) }
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmlua run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f runFlags
	var ff fleetFlags
	f.register(fs)
	ff.register(fs)
	fs.StringVar(&f.answer, "answer", "", "answer questions that block the run's own operations by these rules (a Lua file, docs/questions.md)")
	withSim := fs.Bool("sim", false, "run against the embedded vSphere simulator started in this process (no vCenter needed; its default inventory: DB01 with three disks, VM1, VM2)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: vmlua run [FLAGS] SCRIPT [ARG...] [KEY=VALUE...]\n       vmlua run --each SPEC [--jobs N] [--per-host M] [--per-datastore K] [--per-target T] [--shard i/n] [FLAGS] SCRIPT [ARG...]\n\nRuns a Lua script in vmlua's sandbox. Arguments reach the script as arg[1..n]; KEY=VALUE ones as arg.KEY.\nWith --each, the script runs once per VM matched, each in its own sandbox, in parallel within the limits, and a table of the results is printed.\n\nFlags:")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nExit status: 0 success, 1 the script failed (with --each: any run failed), 2 usage, 3 config, 4 timeout, 5 interrupted (SIGINT/SIGTERM).")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return exitUsage
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	if *withSim {
		if f.url != "" || f.profile != "" {
			return reportErr(stderr, &exitError{exitUsage, errors.New("--sim replaces --url/--profile: give one or the other")})
		}
		s, err := vsim.Start(ctx, vsim.Options{})
		if err != nil {
			return reportErr(stderr, fmt.Errorf("start the simulator: %w", err))
		}
		defer s.Close()
		f.url, f.insecure = s.URL.String(), true
	}
	if ff.each != "" {
		return runEach(ctx, &f, &ff, fs.Arg(0), fs.Args()[1:], stdout, stderr)
	}
	return runScript(ctx, &f, fs.Arg(0), fs.Args()[1:], stderr)
}

// runScript runs one script and maps the outcome to an exit status.
func runScript(ctx context.Context, f *runFlags, script string, args []string, stderr io.Writer) int {
	opts, err := f.options(ctx, stderr, args)
	if err != nil {
		return reportErr(stderr, err)
	}
	r, err := runtime.New(opts)
	if err != nil {
		return reportErr(stderr, &exitError{exitUsage, err})
	}
	if f.answer != "" {
		p, err := question.LoadRules(r, f.answer)
		if err != nil {
			r.Close()
			return reportErr(stderr, &exitError{exitConfig, err})
		}
		question.Install(r, p)
	}
	err = r.ExecFile(script)
	if s, ok := opts.Progress.(*progress.Sink); ok {
		s.Wait()
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "vmlua: %s: %v\n", script, err)
	var se *runtime.ScriptError
	if errors.As(err, &se) {
		switch se.Code {
		case runtime.CodeTimeout:
			return exitTimeout
		case runtime.CodeCanceled:
			return exitCanceled
		}
	}
	return exitFailure
}

func reportErr(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "vmlua: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}
