package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/backup/retention"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/runtime"
)

func init() { register(func() verb { return &pruneVerb{} }) }

// pruneVerb is vmlua prune.
type pruneVerb struct {
	o    opFlags
	keep int
	gfs  string
}

func (*pruneVerb) About() about {
	return about{
		name:    "prune",
		summary: "remove the backup sets a retention policy does not keep",
		usage: `Usage: vmlua prune [FLAGS] TARGET [VM] --keep N
       vmlua prune [FLAGS] TARGET [VM] --gfs daily=7,weekly=4,monthly=12 [--dry-run]

Removes from TARGET the sets of the VM named, or of every VM on TARGET, that the retention
does not keep: --keep N keeps the last N sets (ghettoVCB's rotation), --gfs the newest set of
each of the last N days, weeks, months, years (grandfather-father-son, restic's semantics);
both may be given. The newest complete set is always kept, incomplete sets go only when older
than it, and a kept incremental keeps every set of its chain. Prints what it kept and removed,
and why; --dry-run removes nothing and prints what it would remove. TARGET is granted for
this command. The same pruning as backup.prune{at=TARGET, vm=VM, keep=N, policy={...}}.

Flags:`,
		footer: "Exit status: 0 done (also when nothing needed removing), 1 a set could not be removed or the target read, " + opFooter + ".",
	}
}

func (v *pruneVerb) Flags(fs *flag.FlagSet) {
	v.o.register(fs, true, true)
	fs.IntVar(&v.keep, "keep", 0, "keep the last N sets of each VM")
	fs.StringVar(&v.gfs, "gfs", "", "grandfather-father-son retention: comma-separated last=N, daily=N, weekly=N, monthly=N, yearly=N")
}

// pruneVM is what vmlua prune did to one VM's sets.
type pruneVM struct {
	VM      string         `json:"vm"`
	Kept    []pruneRuling  `json:"kept"`
	Removed []pruneRuling  `json:"removed"`
	results []prunedResult // for the table, newest first
}

type pruneRuling struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

type prunedResult struct {
	id, reason string
	keep       bool
}

func (v *pruneVerb) Run(inv *call, pos []string) int {
	if len(pos) < 1 || len(pos) > 2 {
		return inv.usageError()
	}
	p, err := v.policy()
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua prune: %v\nRun 'vmlua prune --help' for its flags.\n", err)
		return exitUsage
	}
	target := pos[0]
	res := map[string]any{"policy": p.String(), "dry_run": v.o.f.dryRun}
	x, h, code := v.o.startTarget(inv, target, res)
	if x == nil {
		return code
	}
	defer x.close()
	dry := x.r.DryRun
	var names []string
	if len(pos) == 2 {
		names = []string{pos[1]}
	} else {
		list, err := sets.List(x.r.Context(), h.T, "")
		if err != nil {
			return x.fail(sets.TargetError(err, h.URL), res)
		}
		seen := map[string]bool{}
		for _, s := range list {
			if !seen[s.VM] {
				seen[s.VM] = true
				names = append(names, s.VM)
			}
		}
		if len(names) == 0 {
			return x.fail(nothingThere("no backup set on %s: nothing to prune", h.URL), res)
		}
	}
	vms := make([]*pruneVM, 0, len(names))
	res["vms"] = vms
	for _, name := range names {
		pr, err := sets.Prune(x.r, h.T, name, p, dry)
		if err != nil {
			return x.fail(err, res)
		}
		if len(pr.Decisions) == 0 && len(pos) == 2 {
			return x.fail(nothingThere("no set of %s on %s (vmlua sets list %s shows the VMs it holds)", name, h.URL, h.URL), res)
		}
		pv := &pruneVM{VM: name, Kept: []pruneRuling{}, Removed: []pruneRuling{}}
		for _, d := range pr.Decisions {
			r := pruneRuling{ID: d.Set.ID, Reason: d.Reason}
			if d.Keep {
				pv.Kept = append(pv.Kept, r)
			} else {
				pv.Removed = append(pv.Removed, r)
			}
			pv.results = append(pv.results, prunedResult{id: d.Set.ID, reason: d.Reason, keep: d.Keep})
		}
		vms = append(vms, pv)
		res["vms"] = vms
	}
	if !v.o.json {
		printPruned(x.stdout, vms, dry)
	}
	x.result(exitOK, nil, res)
	return exitOK
}

// policy is the retention --keep and --gfs give.
func (v *pruneVerb) policy() (retention.Policy, error) {
	var p retention.Policy
	if v.keep < 0 {
		return p, fmt.Errorf("--keep %d: want a number of sets, 1 or more", v.keep)
	}
	p.Last = v.keep
	if v.gfs != "" {
		fields := map[string]*int{"last": new(int), "daily": &p.Daily, "weekly": &p.Weekly, "monthly": &p.Monthly, "yearly": &p.Yearly}
		names := []string{"last", "daily", "weekly", "monthly", "yearly"}
		for _, part := range strings.Split(v.gfs, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			dst := fields[k]
			if dst == nil {
				hint := ""
				if c := runtime.Closest(k, names); c != "" {
					hint = fmt.Sprintf(" (did you mean %s?)", c)
				}
				return p, fmt.Errorf("--gfs %s: unknown rule %q%s: want %s=N", v.gfs, k, hint, strings.Join(names, "=N, "))
			}
			n, err := strconv.Atoi(val)
			if !ok || err != nil || n < 0 {
				return p, fmt.Errorf("--gfs %s: %s wants a number of sets, as %s=7", v.gfs, k, k)
			}
			*dst = n
		}
		p.Last = max(p.Last, *fields["last"])
	}
	if p.Empty() {
		return p, fmt.Errorf("give --keep N or --gfs daily=N,...: without a rule only the newest set would be kept")
	}
	return p, nil
}

func printPruned(w io.Writer, vms []*pruneVM, dry bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tSET\tACTION\tREASON")
	removed, kept := 0, 0
	action := "removed"
	if dry {
		action = "would remove (dry run)"
	}
	for _, v := range vms {
		for _, r := range v.results {
			a := "kept"
			if !r.keep {
				a = action
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", oneline.Escape(v.VM), oneline.Escape(r.id), a, oneline.Escape(r.reason))
		}
		removed += len(v.Removed)
		kept += len(v.Kept)
	}
	tw.Flush()
	if dry {
		fmt.Fprintf(w, "%d set(s) kept, %d to remove, of %d VM(s) (dry run: nothing was removed)\n", kept, removed, len(vms))
		return
	}
	fmt.Fprintf(w, "%d set(s) kept, %d removed, of %d VM(s)\n", kept, removed, len(vms))
}
