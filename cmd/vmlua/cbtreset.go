package main

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/vm"
)

func init() { register(func() verb { return &cbtResetVerb{} }) }

// cbtResetVerb is vmlua cbt-reset: v:cbt_reset() for the VMs of a SPEC.
type cbtResetVerb struct {
	f          runFlags
	allowEmpty bool
}

func (*cbtResetVerb) About() about {
	return about{
		name:    "cbt-reset",
		summary: "reset the changed block tracking of VMs (VMware KB 2139574)",
		usage: `Usage: vmlua cbt-reset [--dry-run] [FLAGS] SPEC

Resets the changed block tracking of every VM SPEC matches, as v:cbt_reset()
does: tracking off, a snapshot created and removed, tracking on, a second
snapshot cycle (VMware KB 2139574). The disks get change ids of a new epoch:
the next incremental backup of each VM is a full. For VMs whose tracking
may have missed changes (KB 2090639, KB 2136854), or after a backup with
verify_cbt=true reported a disagreement. A VM with snapshots is refused
(VMware supports switching tracking on only without them) and the others
are still reset. SPEC is required (any: resets every VM). One line per VM.

Flags:`,
		footer: "Exit status: 0 every VM reset, 1 a VM could not be reset, 2 usage, 3 config, 6 SPEC matches no VM (0 with --allow-empty).",
	}
}

func (v *cbtResetVerb) Flags(fs *flag.FlagSet) {
	v.f.register(fs)
	fs.BoolVar(&v.allowEmpty, "allow-empty", false, "a SPEC that matches no VM is fine (exit 0; default: exit 6, nothing selected)")
}

func (v *cbtResetVerb) Run(inv *call, pos []string) int {
	stdout, stderr, f := inv.stdout, inv.stderr, &v.f
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "vmlua cbt-reset: give one specifier (the VMs to reset), got %d: %s\nRun 'vmlua cbt-reset --help' for its flags.\n", len(pos), strings.Join(pos, " "))
		return exitUsage
	}
	spec, err := vm.ParseSpec(pos[0])
	if err != nil {
		return reportErr(stderr, &exitError{exitUsage, err})
	}
	r, c, done, code := f.connectVerb(stderr)
	if done == nil {
		return code
	}
	defer done()
	found, err := c.Find(r.Context(), spec)
	if err == nil && len(found) == 0 {
		err = c.NoMatch(r.Context(), spec)
	}
	if code, done := noVMSelected(stderr, r, err, v.allowEmpty, "no tracking was reset"); done {
		return code
	}
	if err != nil {
		return reportErr(stderr, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tMOREF\tRESULT")
	var failed error
	for _, m := range found {
		res := "reset"
		if r.DryRun {
			res = "would reset (dry run)"
		}
		x, err := c.VMByRef(r.Context(), m.Reference())
		if err == nil {
			err = x.ResetCBT(r)
		}
		if err != nil {
			r.Log.Error("cbt-reset: could not reset changed block tracking", "vm", m.Name, "error", err)
			res = "failed: " + err.Error()
			if failed == nil {
				failed = err
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", oneline.Escape(m.Name), oneline.Escape(m.Reference().Value), oneline.Escape(res))
	}
	tw.Flush()
	if failed != nil {
		return exitFailure
	}
	return exitOK
}
