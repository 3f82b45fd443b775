package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

func init() { register(func() verb { return &answerVerb{} }) }

// answerVerb is vmlua answer.
type answerVerb struct {
	f       runFlags
	rules   string
	vms     string
	once    bool
	maxWait time.Duration
}

func (*answerVerb) About() about {
	return about{
		name:    "answer",
		summary: "answer pending VM questions by rules (a daemon, or one pass)",
		usage:   "Usage: vmlua answer [--rules RULES.lua] [--vms SPEC] [--once] [--dry-run] [FLAGS]\n\nAnswers the questions VMs wait on, by rules, as they appear. Every answer is logged with the VM, the question id, its text and the choice; every question left for a person is logged as a warning. SIGTERM or SIGINT stops it cleanly; a lost vSphere session is re-established and every pending question re-read.\n\nFlags:",
		footer:  "Exit status: 0 success (and after SIGTERM), 1 failure, 2 usage, 3 config or rules file, 7 (--once) questions left for a person.",
	}
}

func (v *answerVerb) Flags(fs *flag.FlagSet) {
	v.f.register(fs)
	fs.StringVar(&v.rules, "rules", "", "rules file: a Lua file returning a table of rules (docs/questions.md); default: answer single-choice questions, leave the others")
	fs.StringVar(&v.vms, "vms", "any:", "which VMs: a .vmx path or a specifier (name:GLOB, powerstate:on, folder:PATH, tag:NAME, any:, ...)")
	fs.BoolVar(&v.once, "once", false, "answer the questions pending now, then exit (default: keep watching until SIGTERM)")
	fs.DurationVar(&v.maxWait, "max-wait", question.DefaultMaxWait, "how long one server-side wait lasts; bounds how late a dropped session is noticed")
}

func (v *answerVerb) Run(inv *call, pos []string) int {
	// The names the body had when it parsed its own flags.
	stderr, f := inv.stderr, &v.f
	rules, vms, once, maxWait := &v.rules, &v.vms, &v.once, &v.maxWait
	if len(pos) > 0 {
		return inv.usageError()
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
	// folder:, tag: and the others are resolved once, as the run starts
	if spec, err = c.Resolve(r.Context(), spec); err != nil {
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
