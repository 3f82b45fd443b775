package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

func init() { register(func() verb { return &cleanupVerb{} }) }

// cleanupVerb is vmlua cleanup.
type cleanupVerb struct {
	f          runFlags
	force      bool
	allowEmpty bool
}

func (*cleanupVerb) About() about {
	return about{
		name:    "cleanup",
		summary: "commit the REDO logs (snapshots) that killed vmlua runs left on VMs",
		usage: fmt.Sprintf(`Usage: vmlua cleanup [--dry-run] [--force] [FLAGS] [SPEC]

Commits the REDO logs (snapshots named vmlua-redo-*) that vmlua runs killed
before their cleanup (SIGKILL, the OOM killer, a crash, a reboot) left on the
VMs SPEC matches (default any:), and prints one line per snapshot. A
snapshot is left alone (and logged, with why) when its owner may still be
running: a vmlua process on this machine that still runs, or a run on
another machine whose lease has not expired. A run renews the lease in
its snapshots' descriptions every %[1]d minutes, to %[2]d minutes ahead, by
vSphere's clock; so another machine's killed run is committed here at most
%[2]d minutes after it died. A snapshot added with keep=true is never
touched, nor one vmlua did not create. With --dry-run it prints what it
would commit. docs/reliability.md says when to run it. A SPEC that matches
no VM (name:DB1 for DB01) is exit 6, with the closest VM name, not "nothing
found": give --allow-empty if that is expected.

--force also commits the snapshots whose owner may still be running, with
a warning for each: only for an operator who knows that run is gone (its
machine was lost) and does not want to wait for its lease. A backup still
reading from such a snapshot fails that disk; it never stores it as ok.

Flags:`, int(vm.LeaseRenew.Minutes()), int(vm.LeaseLength.Minutes())),
		footer: "Exit status: 0 done (also when the VMs matched had nothing to commit), 1 a commit failed, 2 usage, 3 config, 6 SPEC matches no VM (0 with --allow-empty).",
	}
}
func (v *cleanupVerb) Flags(fs *flag.FlagSet) {
	v.f.register(fs)
	fs.BoolVar(&v.force, "force", false, "also commit the REDO logs whose owner may still be running (another machine's with a lease not expired, a live process's on this one), each with a warning")
	fs.BoolVar(&v.allowEmpty, "allow-empty", false, "a SPEC that matches no VM is fine (exit 0; default: exit 6, nothing selected)")
}

func (v *cleanupVerb) Run(inv *call, pos []string) int {
	stdout, stderr, f := inv.stdout, inv.stderr, &v.f
	spec, ok := selection("cleanup", pos, stderr)
	if !ok {
		return exitUsage
	}
	r, c, done, code := f.connectVerb(stderr)
	if done == nil {
		return code
	}
	defer done()
	cleaned, err := c.CleanupOrphansWith(r, spec, nil, vm.OrphanOptions{Force: v.force, RequireMatch: true})
	if code, done := noVMSelected(stderr, r, err, v.allowEmpty, "nothing was cleaned up"); done {
		return code
	}
	printCleaned(stdout, cleaned, r.DryRun)
	if err != nil {
		return reportErr(stderr, err)
	}
	return exitOK
}

// selection reads the one optional SPEC of a verb that takes a
// selection (default any:); on a usage error it has said why.
func selection(verb string, pos []string, stderr io.Writer) (vm.Spec, bool) {
	if len(pos) > 1 {
		fmt.Fprintf(stderr, "vmlua %s: one specifier at most, got %d: %s\nRun 'vmlua %s --help' for its flags.\n", verb, len(pos), strings.Join(pos, " "), verb)
		return vm.Spec{}, false
	}
	raw := "any:"
	if len(pos) == 1 {
		raw = pos[0]
	}
	spec, err := vm.ParseSpec(raw)
	if err != nil {
		reportErr(stderr, &exitError{exitUsage, err})
		return vm.Spec{}, false
	}
	return spec, true
}

// noVMSelected handles a selection that matched no VM (vm.NoMatch's
// not_found) in a verb that takes one: exit 6 with what was not done, or
// with allowEmpty (--allow-empty) 0 and the same words logged. done is
// false for any other err.
func noVMSelected(stderr io.Writer, r *runtime.Run, err error, allowEmpty bool, what string) (code int, done bool) {
	var re *runtime.Error
	if !errors.Is(err, vm.ErrNoMatch) || !errors.As(err, &re) {
		return 0, false
	}
	if allowEmpty {
		r.Log.Warn(re.Message + ": " + what + " (--allow-empty)")
		return exitOK, true
	}
	return reportErr(stderr, &exitError{exitNothingSelected, fmt.Errorf("%s: %s; give --allow-empty if that is expected", re.Message, what)}), true
}

// printCleaned prints what a cleanup of orphans did (or would do).
func printCleaned(w io.Writer, done []vm.Cleaned, dry bool) {
	verb := "committed"
	if dry {
		verb = "would commit (dry run)"
	}
	if len(done) == 0 {
		fmt.Fprintln(w, "no orphaned vmlua REDO log found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tMOREF\tSNAPSHOT\tACTION")
	for _, o := range done {
		action := verb
		if o.Forced {
			action += " (--force: its owner may have been running)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", oneline.Escape(o.VM), oneline.Escape(o.Moref), oneline.Escape(o.Snapshot), action)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d orphaned REDO log(s) %s\n", len(done), verb)
}

// connectVerb makes the run of a verb that works on VMs (signals handled,
// no progress display) and connects it to vSphere; done ends both. When
// it could not, done is nil and code is the exit status, said on stderr.
func (f *runFlags) connectVerb(stderr io.Writer) (r *runtime.Run, c *vm.Conn, done func(), code int) {
	ctx, stop := signalContext(stderr)
	opts, err := f.options(ctx, stderr, nil)
	if err != nil {
		stop()
		return nil, nil, nil, reportErr(stderr, err)
	}
	opts.Progress = nil
	if r, err = runtime.New(opts); err != nil {
		stop()
		return nil, nil, nil, reportErr(stderr, &exitError{exitUsage, err})
	}
	if c, err = vm.Connect(r, ""); err != nil {
		r.Close()
		stop()
		return nil, nil, nil, reportErr(stderr, err)
	}
	return r, c, func() { r.Close(); stop() }, exitOK
}
