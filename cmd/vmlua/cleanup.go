package main

import (
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
	f     runFlags
	force bool
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
would commit. docs/reliability.md says when to run it.

--force also commits the snapshots whose owner may still be running, with
a warning for each: only for an operator who knows that run is gone (its
machine was lost) and does not want to wait for its lease. A backup still
reading from such a snapshot fails that disk; it never stores it as ok.

Flags:`, int(vm.LeaseRenew.Minutes()), int(vm.LeaseLength.Minutes())),
		footer: "Exit status: 0 done (also when there was nothing to commit), 1 a commit failed, 2 usage, 3 config.",
	}
}
func (v *cleanupVerb) Flags(fs *flag.FlagSet) {
	v.f.register(fs)
	fs.BoolVar(&v.force, "force", false, "also commit the REDO logs whose owner may still be running (another machine's with a lease not expired, a live process's on this one), each with a warning")
}

func (v *cleanupVerb) Run(inv *call, pos []string) int {
	stdout, stderr, f := inv.stdout, inv.stderr, &v.f
	if len(pos) > 1 {
		fmt.Fprintf(stderr, "vmlua cleanup: one specifier at most, got %d: %s\nRun 'vmlua cleanup --help' for its flags.\n", len(pos), strings.Join(pos, " "))
		return exitUsage
	}
	raw := "any:"
	if len(pos) == 1 {
		raw = pos[0]
	}
	spec, err := vm.ParseSpec(raw)
	if err != nil {
		return reportErr(stderr, &exitError{exitUsage, err})
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	opts, err := f.options(ctx, stderr, nil)
	if err != nil {
		return reportErr(stderr, err)
	}
	opts.Progress = nil
	r, err := runtime.New(opts)
	if err != nil {
		return reportErr(stderr, &exitError{exitUsage, err})
	}
	defer r.Close()
	c, err := vm.Connect(r, "")
	if err != nil {
		return reportErr(stderr, err)
	}
	cleaned, err := c.CleanupOrphansWith(r, spec, nil, vm.OrphanOptions{Force: v.force})
	printCleaned(stdout, cleaned, r.DryRun)
	if err != nil {
		return reportErr(stderr, err)
	}
	return exitOK
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
