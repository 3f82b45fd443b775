package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

func init() {
	register(command{name: "answer", summary: "answer pending VM questions by rules (a daemon, or one pass)", run: cmdAnswer})
}

func cmdAnswer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmlua answer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f runFlags
	f.register(fs)
	rules := fs.String("rules", "", "rules file: a Lua file returning a table of rules (docs/questions.md); default: answer single-choice questions, leave the others")
	vms := fs.String("vms", "any:", "which VMs: a .vmx path or a specifier (name:GLOB, powerstate:on, any:, ...)")
	once := fs.Bool("once", false, "answer the questions pending now, then exit (default: keep watching until SIGTERM)")
	maxWait := fs.Duration("max-wait", question.DefaultMaxWait, "how long one server-side wait lasts; bounds how late a dropped session is noticed")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: vmlua answer [--rules RULES.lua] [--vms SPEC] [--once] [--dry-run] [FLAGS]\n\nAnswers the questions VMs wait on, by rules, as they appear. Every answer is logged with the VM, the question id, its text and the choice; every question left for a person is logged as a warning. SIGTERM or SIGINT stops it cleanly; a lost vSphere session is re-established and every pending question re-read.\n\nFlags:")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nExit status: 0 success (and after SIGTERM), 1 failure, 2 usage, 3 config or rules file, 7 (--once) questions left for a person.")
	}
	pos, code, done := parseFlags(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) > 0 {
		fs.Usage()
		return exitUsage
	}
	spec, err := vm.ParseSpec(*vms)
	if err != nil {
		return reportErr(stderr, &exitError{exitUsage, fmt.Errorf("--vms: %v", err)})
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	opts, err := f.options(ctx, stderr, nil)
	if err != nil {
		return reportErr(stderr, err)
	}
	if f.timeout == 0 && !*once {
		opts.Timeout = 100 * 365 * 24 * time.Hour // a daemon: until stopped
	}
	r, err := runtime.New(opts)
	if err != nil {
		return reportErr(stderr, &exitError{exitUsage, err})
	}
	defer r.Close()
	policy := question.DefaultPolicy()
	if *rules != "" {
		if policy, err = question.LoadRules(r, *rules); err != nil {
			return reportErr(stderr, &exitError{exitConfig, err})
		}
	}
	c, err := vm.Connect(r, "")
	if err != nil {
		return reportErr(stderr, err)
	}
	a := &question.Answerer{Run: r, Client: c.Client, Policy: policy}
	if *once {
		found, err := question.Pending(r.Context(), c.Client, spec)
		if err != nil {
			return reportErr(stderr, err)
		}
		for _, q := range found {
			_ = a.Handle(r.Context(), q)
		}
		r.Log.Info("one pass done", "pending", len(found), "answered", a.Answered, "left", a.Left)
		if a.Left > 0 {
			// Something still waits for a person: not a failure of vmlua,
			// but not done either (cron should say so).
			fmt.Fprintf(stderr, "vmlua answer: %d question(s) left for a person (see the warnings above)\n", a.Left)
			return exitPartial
		}
		return exitOK
	}
	r.Log.Info("watching for VM questions", "vms", *vms, "rules", len(policy.Rules), "single_choice", policy.SingleChoice)
	w := &question.Watcher{Client: c.Client, Spec: spec, MaxWait: *maxWait, Log: r.Log, Handle: a.Handle}
	if err := w.Run(r.Context()); err != nil {
		return reportErr(stderr, err)
	}
	if cause := context.Cause(r.Context()); cause != nil && ctx.Err() == nil {
		r.Log.Error("stopped: " + cause.Error())
		return exitTimeout
	}
	r.Log.Info("stopped", "answered", a.Answered, "left", a.Left)
	return exitOK
}
