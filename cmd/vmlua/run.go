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
	"strings"
	"syscall"
	"time"

	"github.com/vmlua/vmlua/internal/cli/config"
	"github.com/vmlua/vmlua/internal/cli/logattr"
	"github.com/vmlua/vmlua/internal/cli/progress"
	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/internal/redact"
	"github.com/vmlua/vmlua/internal/spancrypt"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/notify"
	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmlua/vmlua/runtime"
)

func init() { register(func() verb { return &runVerb{} }) }

// modules lists the Lua modules runs get (a variable so that tests can add
// a module of their own).
var modules = all.Modules

// runFlags are the flags shared by the commands that run scripts.
type runFlags struct {
	url, profile, thumbprint, configPath, lib, logFormat, logLevel string
	insecure, dryRun                                               bool
	answer                                                         string // run --answer RULES.lua
	identity                                                       string // --identity FILE
	allow                                                          stringList
	timeout, stopGrace                                             time.Duration
	// bwlimit, bwlimitTarget and window are run's --bwlimit,
	// --bwlimit-target and --window ("" : the config's [limits]).
	bwlimit, bwlimitTarget, window string
	out                            outputFlags
	// levelGiven: --log-level was on the command line (--quiet lowers
	// the default level only).
	levelGiven bool
	// scriptOut is where the scripts' print goes (default stdout).
	scriptOut io.Writer
	// showProgress shows progress whatever the log level (the demo logs
	// at warn level and shows its progress).
	showProgress bool
}

func (f *runFlags) register(fs *flag.FlagSet) {
	f.registerCommon(fs, "script")
	fs.Var(&f.allow, "allow", "grant the script a transport URL prefix, e.g. sftp://backup@nas/backups/ (repeatable)")
	fs.StringVar(&f.lib, "lib", "", "directory of the site's own Lua modules, for require (read-only)")
	fs.DurationVar(&f.stopGrace, "stop-grace", 0, fmt.Sprintf("after --timeout or SIGINT/SIGTERM, how long to wait for a script stuck in a call before vmlua runs the cleanup without it and exits (default %v)", runtime.DefaultStopGrace))
	f.registerDryRun(fs)
}

// registerCommon declares the flags every command that talks to vSphere
// or a target shares: the connection, the config file, the time limit
// (of what: "script", "command") and the logs.
func (f *runFlags) registerCommon(fs *flag.FlagSet, what string) {
	fs.StringVar(&f.url, "url", "", "vSphere SDK URL (https://host/sdk; may carry user:password like govc, prefer the config file); env VMLUA_URL")
	fs.StringVar(&f.profile, "profile", "", "vSphere profile from the config file (default: default_vsphere, or the only one); one the file lacks is exit 3, even with --url or VMLUA_URL")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the vSphere server's TLS certificate; env VMLUA_INSECURE")
	fs.StringVar(&f.thumbprint, "thumbprint", "", "pin the vSphere server's certificate by its SHA-1/SHA-256 fingerprint; env VMLUA_THUMBPRINT")
	fs.StringVar(&f.configPath, "config", "", "config file (default: $VMLUA_CONFIG, ./vmlua.toml, ~/.config/vmlua/config.toml, /etc/vmlua/config.toml)")
	fs.DurationVar(&f.timeout, "timeout", 0, fmt.Sprintf("wall-clock limit of the %s (default %v, or [limits] timeout)", what, runtime.DefaultTimeout))
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.identity, "identity", "", "age identity file (private key) that opens encrypted sets: restore, verify, serve, mount, files (default: $VMLUA_IDENTITY, or identity in the config's [encryption]); a passphrase-protected one reads $VMLUA_IDENTITY_PASSPHRASE")
}

// registerRate declares run's bandwidth and window flags.
func (f *runFlags) registerRate(fs *flag.FlagSet) {
	fs.StringVar(&f.bwlimit, "bwlimit", "", "bandwidth limit of the whole run, the sum of every stream to every target (rclone's --bwlimit: 10M is 10 MiB/s, suffixes B K M G T P, a bare number is KiB/s; UP:DOWN; off; or a timetable by local time, \"08:00,512K 12:00,10M 23:00,off\"); default: [limits] bwlimit, else none")
	fs.StringVar(&f.bwlimitTarget, "bwlimit-target", "", "bandwidth limit of each target (scheme://host), shared by every stream to it, all disks and VMs in parallel (the same forms as --bwlimit); a target's own bwlimit= option (transport.open, the URL's ?bwlimit=) overrides it; default: [limits] bwlimit_target, else none")
	fs.StringVar(&f.window, "window", "", "backup window START-END in local time, e.g. 22:00-06:00 (may cross midnight): once the window the run started in closes, no new VM starts (running ones finish); with --each and in the shipped scripts the VMs not started are listed, and the run exits 7 (partial); default: [limits] window, else none")
}

func (f *runFlags) registerDryRun(fs *flag.FlagSet) {
	fs.BoolVar(&f.dryRun, "dry-run", false, "log what would change; change nothing")
}

// exitError is a failure with the exit status it maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// options builds runtime options from flags, config and environment.
func (f *runFlags) options(ctx context.Context, stderr io.Writer, args []string) (runtime.Options, error) {
	level := f.logLevel
	if f.out.quiet && !f.levelGiven {
		level = "warn"
	}
	logger, err := newLogger(stderr, f.logFormat, level)
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
	// otherwise; none with JSON logs, which must stay one record a line,
	// and none above info level (progress lines are info).
	var prog runtime.Progress
	if f.logFormat != "json" && !f.out.quiet && (f.showProgress || logger.Enabled(ctx, slog.LevelInfo)) {
		prog = progress.New(stderr, progress.Options{})
	}
	opts := runtime.Options{
		Progress: prog, Stdout: f.scriptOut,
		Context: ctx, Logger: logger, Modules: modules(), DryRun: f.dryRun,
		Timeout: f.timeout, StopGrace: f.stopGrace, LibDir: f.lib, Args: args,
		Endpoints: eps, DefaultEndpoint: def, Credentials: creds,
	}
	if opts.Timeout == 0 {
		opts.Timeout = cfg.Limits.Timeout.Duration
	}
	if err := f.rateLimits(&opts, cfg.Limits); err != nil {
		return runtime.Options{}, err
	}
	if opts.LibDir == "" {
		opts.LibDir = cfg.Lib
	}
	for _, a := range append(append([]string{}, cfg.Grants.Allow...), f.allow...) {
		if err := opts.Grants.Allow(a); err != nil {
			return runtime.Options{}, &exitError{exitConfig, err}
		}
	}
	nt, err := cfg.NotifyTargets(creds)
	if err != nil {
		return runtime.Options{}, &exitError{exitConfig, err}
	}
	notify.Configure(&opts, notifyConfig(nt))
	kr, err := keyring(cfg, f.identity)
	if err != nil {
		return runtime.Options{}, &exitError{exitConfig, err}
	}
	opts.Context = sets.WithKeyring(opts.Context, kr)
	return opts, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lvl, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { return roundFloatAttr(a) }}
	switch format {
	case "json":
		return slog.New(redact.NewHandler(logattr.New(slog.NewJSONHandler(w, ho)))), nil
	case "text":
		ho.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(a.Key, a.Value.Time().Format("15:04:05"))
			}
			return roundFloatAttr(a)
		}
		return slog.New(redact.NewHandler(logattr.New(slog.NewTextHandler(w, ho)))), nil
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

// runCommandFlags are every flag of 'vmlua run'.
type runCommandFlags struct {
	f       runFlags
	ff      fleetFlags
	withSim bool
	noCheck bool
}

// runVerb is vmlua run.
type runVerb struct{ runCommandFlags }

func (*runVerb) About() about {
	return about{
		name:    "run",
		summary: "run a Lua script",
		usage: `Usage: vmlua run [FLAGS] SCRIPT [ARG...] [KEY=VALUE...] [-- ARG...]
       vmlua run --each SPEC [--jobs N] [--per-host M] [--per-datastore K] [--per-target T] [--shard i/n] [--window HH:MM-HH:MM] [FLAGS] SCRIPT [ARG...]

Runs a Lua script in vmlua's sandbox. SCRIPT is a file, or the bare name of a shipped script (vmlua scripts
list: vmlua run nightly.lua to=...) when the current directory holds no file of that name; the run logs which
shipped script ran. Arguments reach the script as arg[1..n]; KEY=VALUE ones as arg.KEY
(a script that declares them with script.args refuses unknown keys). Flags may come before or after SCRIPT;
everything after a lone -- is the script's, even if it starts with -.
What the script prints goes to stdout (to stderr with --json); logs and progress go to stderr.
With --each, the script runs once per VM matched, each in its own sandbox, in parallel within the limits, and a table of the results is printed.

Flags:`,
		footer: "Exit status: 0 success, 1 the script failed (with --each: any run failed), 2 usage (unknown flag, missing script, a script vmlua check finds problems in), 3 config (no endpoint, unsafe config file), 4 timeout, 5 interrupted (SIGINT/SIGTERM), 6 nothing selected, 7 partial (something left out, such as the VMs a closed --window kept from starting; see docs/operations.md).",
	}
}

func (v *runVerb) Flags(fs *flag.FlagSet) {
	c := &v.runCommandFlags
	c.f.register(fs)
	c.f.registerRate(fs)
	c.ff.register(fs)
	c.f.out.register(fs)
	fs.StringVar(&c.f.answer, "answer", "", "answer questions that block the run's own operations by these rules (a Lua file, docs/questions.md)")
	fs.BoolVar(&c.noCheck, "no-check", false, "run the script even when vmlua check finds problems in it (for the rare false positive; without it, such a script is refused with exit status 2 before it touches anything)")
	fs.BoolVar(&c.withSim, "sim", false, "run against the embedded vSphere simulator started in this process (no vCenter needed; its default inventory: DB01 with three disks, VM1, VM2)")
}

// newRunFlagSet builds the flag set of 'vmlua run' (the docs' examples are
// checked against it).
func newRunFlagSet() (*flag.FlagSet, *runCommandFlags) {
	v := &runVerb{}
	return newFlagSet("vmlua run", v, os.Stderr), &v.runCommandFlags
}

func (v *runVerb) Run(inv *call, pos []string) int {
	var flush func()
	inv.stderr, flush = jsonStderr(inv.stderr, v.f.logFormat)
	defer flush()
	stdout, stderr := inv.stdout, inv.stderr
	f, ff, withSim := &v.f, &v.ff, &v.withSim
	inv.fs.Visit(func(fl *flag.Flag) { f.levelGiven = f.levelGiven || fl.Name == "log-level" })
	if len(pos) < 1 {
		return inv.usageError()
	}
	if err := f.out.check(); err != nil {
		return reportErr(stderr, &exitError{exitUsage, err})
	}
	if err := ff.check(inv.fs); err != nil {
		return reportErr(stderr, &exitError{exitUsage, err})
	}
	script, args := pos[0], pos[1:]
	src, err := resolveScript(script)
	if err != nil {
		return f.fail(script, &exitError{exitUsage, err}, stdout, stderr)
	}
	if !v.noCheck {
		if err := precheck(src); err != nil {
			return f.fail(script, &exitError{exitUsage, err}, stdout, stderr)
		}
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	if *withSim {
		if f.url != "" || f.profile != "" {
			return f.fail(script, &exitError{exitUsage, errors.New("--sim replaces --url/--profile: give one or the other")}, stdout, stderr)
		}
		s, err := vsim.Start(ctx, vsim.Options{})
		if err != nil {
			return f.fail(script, fmt.Errorf("start the simulator: %w", err), stdout, stderr)
		}
		defer s.Close()
		f.url, f.insecure = s.URL.String(), true
	}
	if ff.each != "" {
		return runEach(ctx, f, ff, src, args, stdout, stderr)
	}
	return runScript(ctx, f, src, args, stdout, stderr, ff.hostArgs)
}

// scriptOutput sets where the scripts' print goes for this run and
// returns what to do with the held output at the end (--quiet).
func (f *runFlags) scriptOutput(stdout, stderr io.Writer) *heldOutput {
	switch {
	case f.out.json && f.logFormat == "json":
		f.scriptOut = newJSONLines(stderr, slog.LevelInfo, slog.String("stream", "print"))
	case f.out.json:
		f.scriptOut = stderr
	case f.out.quiet:
		h := newHeldOutput()
		f.scriptOut = h
		return h
	default:
		f.scriptOut = stdout
	}
	return nil
}

// finishOutput writes what the output flags ask for when a run ended.
func (f *runFlags) finishOutput(rep *runReport, held *heldOutput, stdout io.Writer) {
	if j, ok := f.scriptOut.(*jsonLines); ok {
		j.Flush()
	}
	if held != nil && rep.Exit != exitOK {
		held.flush(stdout)
	}
	if f.out.json {
		rep.write(stdout)
	}
	if f.out.summary == "line" {
		fmt.Fprintln(stdout, rep.summaryLine())
	}
}

// fail reports a run that ended before its script ran: the error on
// stderr (a JSON record with --log-format json), and the report --json
// and --summary ask for on stdout.
func (f *runFlags) fail(script string, err error, stdout, stderr io.Writer) int {
	code := errStatus(err)
	finalLine(stderr, f.logFormat, "", code, err)
	f.finishOutput(newReport(script, code, err, 0, nil), nil, stdout)
	return code
}

// runScript runs one script and maps the outcome to an exit status.
func runScript(ctx context.Context, f *runFlags, src *scriptSource, args []string, stdout, stderr io.Writer, mods ...func(*runtime.Options)) int {
	start := time.Now()
	script := src.name
	held := f.scriptOutput(stdout, stderr)
	opts, err := f.options(ctx, stderr, args)
	if err != nil {
		return f.fail(script, err, stdout, stderr)
	}
	src.logShipped(opts.Logger)
	for _, m := range mods {
		m(&opts)
	}
	r, err := runtime.New(opts)
	if err != nil {
		return f.fail(script, &exitError{exitUsage, err}, stdout, stderr)
	}
	if f.answer != "" {
		p, err := question.LoadRules(r, f.answer)
		if err != nil {
			r.Close()
			return f.fail(script, &exitError{exitConfig, err}, stdout, stderr)
		}
		question.Install(r, p)
	}
	err = r.ExecString(src.chunk(), src.text)
	if s, ok := opts.Progress.(*progress.Sink); ok {
		s.Wait()
	}
	code := runtime.ExitStatus(err)
	if err != nil {
		finalLine(stderr, f.logFormat, script, code, err)
	}
	f.finishOutput(newReport(script, code, err, time.Since(start), r.Results()), held, stdout)
	return code
}

// precheck runs vmlua check on the script before anything happens: a
// script with a static mistake (backup.prnue, compress = 9) is refused
// before its first snapshot rather than failing half-way through.
func precheck(src *scriptSource) error {
	script := src.name
	found := runtime.Check(script, src.text, modules())
	if len(found) == 0 {
		return nil
	}
	lines := make([]string, len(found))
	for i, f := range found {
		lines[i] = f.String()
	}
	return fmt.Errorf("%s was not run: vmlua check found %d problem(s): %s; fix the script, or give --no-check if vmlua is wrong", script, len(found), strings.Join(lines, "; "))
}

// reportErr writes err as one line on stderr (control characters
// escaped) and returns the exit status it maps to.
func reportErr(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "vmlua: %s\n", oneline.Escape(redact.Text(err.Error())))
	return errStatus(err)
}

// errStatus is the exit status of an error that ended a command.
func errStatus(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var re *runtime.Error
	if errors.As(err, &re) && re.Code == runtime.CodeConfig {
		return exitConfig
	}
	return exitFailure
}

// keyring is the run's keyring (sets.Keyring): the config's recipients,
// and the identities of the identity file (flag, $VMLUA_IDENTITY, or the
// config's).
func keyring(cfg *config.Config, flag string) (*sets.Keyring, error) {
	kr := &sets.Keyring{Recipients: cfg.Encryption.Recipients, Require: cfg.Encryption.Require}
	if len(kr.Recipients) > 0 {
		if _, err := spancrypt.ParseRecipients(kr.Recipients); err != nil {
			return nil, fmt.Errorf("config [encryption]: %v", err)
		}
	}
	path, pass, err := cfg.IdentityFile(flag, os.Getenv)
	if err != nil || path == "" {
		return kr, err
	}
	if kr.Identities, err = spancrypt.LoadIdentities(path, pass); err != nil {
		return nil, err
	}
	return kr, nil
}

// notifyConfig hands the config's resolved [notify] to the notify module.
func notifyConfig(nt config.NotifyTargets) notify.Config {
	c := notify.Config{Timeout: nt.Timeout}
	if m := nt.Mail; m != nil {
		c.Mail = &notify.Mail{Server: m.Server, From: m.From, To: m.To, User: m.User, Password: m.Password, Implicit: m.Implicit, RootCAs: m.RootCAs}
	}
	for _, w := range nt.Webhooks {
		c.Webhooks = append(c.Webhooks, notify.Webhook{Name: w.Name, URL: w.URL, User: w.User, Token: w.Token, Header: w.Header, RootCAs: w.RootCAs})
	}
	return c
}
