package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/internal/redact"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// opFlags are the flags of the verbs that do one everyday job without a
// script (sets list, verify, prune, restore, host maintenance): the
// connection, config and log flags of run, and --json. Each verb is a thin
// wrapper over the Go API the Lua modules wrap too: the same code backs
// backup.prune{} and vmlua prune.
type opFlags struct {
	f           runFlags
	json        bool
	credentials string
}

// register declares the flags; target: the verb takes a TARGET (then
// --credentials); dryRun: it changes something (then --dry-run).
func (o *opFlags) register(fs *flag.FlagSet, target, dryRun bool) {
	o.f.registerCommon(fs, "command")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object on stdout (with \"exit\", and \"error\" when it failed)")
	if target {
		fs.StringVar(&o.credentials, "credentials", "", "named credentials from the config file for TARGET (as transport.open's credentials=)")
	}
	if dryRun {
		o.f.registerDryRun(fs)
	}
}

// op is one invocation of an everyday verb: its run (no script), and
// where it writes.
type op struct {
	o      *opFlags
	r      *runtime.Run
	stdout io.Writer
	stderr io.Writer
	flush  func()
	stop   func()
}

// start prepares the run of a verb. TARGET, when given, is what the
// operator typed on the command line: it is granted for this call, as
// --allow would grant it to a script. On failure it has reported why and
// returns the exit status.
func (o *opFlags) start(inv *call, target string) (*op, int) {
	stderr, flush := jsonStderr(inv.stderr, o.f.logFormat)
	ctx, stop := signalContext(stderr)
	x := &op{o: o, stdout: inv.stdout, stderr: stderr, flush: flush, stop: stop}
	opts, err := o.f.options(ctx, stderr, nil)
	if err == nil && target != "" {
		if err = opts.Grants.Allow(target); err != nil {
			err = &exitError{exitUsage, fmt.Errorf("TARGET %s: %w", transports.Redact(target), err)}
		}
	}
	if err == nil {
		x.r, err = runtime.New(opts)
	}
	if err != nil {
		code := x.fail(err, nil)
		x.close()
		return nil, code
	}
	return x, exitOK
}

// startTarget is start for a verb whose first argument is TARGET, which
// it opens too. res is the verb's JSON result; it gets "target" (the URL
// without secrets once it is open). On failure x is nil and code the
// exit status.
func (o *opFlags) startTarget(inv *call, target string, res map[string]any) (x *op, h *modtransport.Handle, code int) {
	res["target"] = transports.Redact(target)
	if x, code = o.start(inv, target); x == nil {
		return nil, nil, code
	}
	h, err := x.openTarget(target)
	if err != nil {
		code = x.fail(err, res)
		x.close()
		return nil, nil, code
	}
	res["target"] = h.URL
	return x, h, exitOK
}

// close ends the run.
func (x *op) close() {
	if x.r != nil {
		x.r.Close()
	}
	x.stop()
	x.flush()
}

// openTarget opens the TARGET URL with --credentials. A vmfs:// target
// needs the vSphere connection first.
func (x *op) openTarget(rawURL string) (*modtransport.Handle, error) {
	if u, err := transports.Parse(rawURL); err == nil && strings.EqualFold(u.Scheme, "vmfs") {
		if _, err := vm.Connect(x.r, ""); err != nil {
			return nil, err
		}
	}
	return modtransport.Open(x.r, rawURL, x.o.credentials, nil)
}

// status maps what a verb's work returned to its exit status: a timeout
// 4, an interruption 5, a configuration the call lacks 3, an argument
// vmlua refuses 2, something that is not there (a VM without sets, a set
// or host of no such name) 6, an exitError its own, anything else 1.
func (x *op) status(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if x.r != nil {
		switch {
		case errors.Is(x.r.Context().Err(), context.DeadlineExceeded):
			return exitTimeout
		case errors.Is(x.r.Context().Err(), context.Canceled):
			return exitCanceled
		}
	}
	var re *runtime.Error
	if errors.As(err, &re) {
		switch re.Code {
		case runtime.CodeConfig:
			return exitConfig
		case runtime.CodeTimeout:
			return exitTimeout
		case runtime.CodeCanceled:
			return exitCanceled
		case runtime.CodeInvalidArg:
			return exitUsage
		case runtime.CodeNotFound:
			return exitNothingSelected
		}
	}
	return exitFailure
}

// fail reports err on stderr (and with --json, result on stdout with
// the status and the error) and returns the exit status.
func (x *op) fail(err error, result map[string]any) int {
	code := x.status(err)
	fmt.Fprintf(x.stderr, "vmlua: %s\n", oneline.Escape(redact.Text(err.Error())))
	x.result(code, err, result)
	return code
}

// result prints a verb's JSON result (--json): result's fields plus
// "exit" and, after a failure, "error".
func (x *op) result(code int, err error, result map[string]any) {
	if !x.o.json {
		return
	}
	if result == nil {
		result = map[string]any{}
	}
	result["exit"] = code
	if err != nil {
		result["error"] = err.Error()
	}
	b, merr := json.Marshal(result)
	if merr != nil {
		b, _ = json.Marshal(map[string]any{"exit": code, "error": "the result could not be encoded: " + merr.Error()})
	}
	fmt.Fprintf(x.stdout, "%s\n", b)
}

// nothingThere reports that what the operator named is not there: exit 6,
// as everywhere a selection matches nothing.
func nothingThere(format string, args ...any) error {
	return &exitError{exitNothingSelected, fmt.Errorf(format, args...)}
}

// usageErr is a usage error: exit 2.
func usageErr(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

// opFooter is the exit statuses the everyday verbs share, for --help.
const opFooter = "2 usage (bad flags or arguments), 3 config (unreadable config, unknown credentials, no vSphere endpoint for a command that needs one), 4 timeout, 5 interrupted, 6 nothing there (no VM, set or host of that name)"
