package main

import (
	"flag"
	"fmt"
	"io"
	"path"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/vmlua/vmlua/internal/cli/progress"
	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/backup/sets"
)

func init() { register(func() verb { return &setsVerb{} }) }

// setsVerb is vmlua sets: the backup sets on a target.
type setsVerb struct{ noFlags }

func (*setsVerb) About() about {
	return about{
		name:    "sets",
		summary: "the backup sets on a target (vmlua sets list)",
		usage:   "Usage: vmlua sets list [FLAGS] TARGET [VM]\n\nThe backup sets (restore points) on a target. 'vmlua sets list --help' for the flags.",
		subs:    []verb{&setsListVerb{}},
	}
}

func (*setsVerb) Run(inv *call, _ []string) int { return inv.usageError() }

// setsListVerb is vmlua sets list.
type setsListVerb struct{ o opFlags }

func (*setsListVerb) About() about {
	return about{
		name:    "list",
		summary: "list the backup sets on a target: points, chains, sizes, status",
		usage: `Usage: vmlua sets list [FLAGS] TARGET [VM]

Lists the backup sets (restore points) on TARGET (a URL such as file:///backups or
sftp://backup@nas/vmware), of the VM named, or of every VM, oldest first: each set's point
(its UTC time; restore and verify take VM@POINT), its mode (full, incremental, synthetic),
its chain (how many sets a restore of it reads: an incremental needs every set back to its
full), its size, and its status: ok, partial (a disk was left out), incomplete (its backup
did not finish) or broken (a set of its chain is missing or incomplete). VM may be
host/NAME for a host's configuration sets. TARGET is granted for this command (no --allow
needed). The same listing as backup.list{at=TARGET, vm=VM}.

Flags:`,
		footer: "Exit status: 0 listed, 1 the target could not be read, " + opFooter + ".",
	}
}

func (v *setsListVerb) Flags(fs *flag.FlagSet) { v.o.register(fs, true, false) }

// setRow is one set as vmlua sets list shows it.
type setRow struct {
	ID       string    `json:"id"`
	VM       string    `json:"vm"`
	Point    string    `json:"point"`
	Time     time.Time `json:"time"`
	Mode     string    `json:"mode,omitempty"`
	Parent   string    `json:"parent,omitempty"`
	Chain    []string  `json:"chain"` // the sets a restore reads, full first; empty for an incomplete set
	Complete bool      `json:"complete"`
	Status   string    `json:"status"` // ok, partial, incomplete, broken
	Size     int64     `json:"size"`
	Files    int       `json:"files"`
	Problem  string    `json:"problem,omitempty"` // why a set is broken
}

func (v *setsListVerb) Run(inv *call, pos []string) int {
	if len(pos) < 1 || len(pos) > 2 {
		return inv.usageError()
	}
	target, vmName := pos[0], ""
	if len(pos) == 2 {
		vmName = pos[1]
	}
	res := map[string]any{}
	x, h, code := v.o.startTarget(inv, target, res)
	if x == nil {
		return code
	}
	defer x.close()
	list, err := sets.List(x.r.Context(), h.T, vmName)
	if err != nil {
		return x.fail(sets.TargetError(err, h.URL), res)
	}
	rows := setRows(list)
	res["sets"] = rows
	if len(rows) == 0 {
		if vmName != "" {
			return x.fail(nothingThere("no set of %s on %s (vmlua sets list %s shows the VMs it holds)", vmName, h.URL, h.URL), res)
		}
		return x.fail(nothingThere("no backup set on %s", h.URL), res)
	}
	if !v.o.json {
		printSets(x.stdout, rows)
	}
	x.result(exitOK, nil, res)
	return exitOK
}

// setRows describes each set with its chain and status, VM by VM, each
// VM's oldest first.
func setRows(list []sets.SetInfo) []setRow {
	byID := map[string]sets.SetInfo{}
	for _, s := range list {
		byID[s.ID] = s
	}
	rows := make([]setRow, 0, len(list))
	for _, s := range list {
		row := setRow{ID: s.ID, VM: s.VM, Point: path.Base(s.ID), Time: s.Time, Complete: s.Complete, Size: s.Size, Files: s.Files, Status: "incomplete", Chain: []string{}}
		if s.Catalog != nil {
			row.Mode, row.Parent = orDefault(s.Catalog.Mode, "full"), s.Catalog.Parent
		}
		if s.Complete {
			row.Status = s.Catalog.StatusOf()
			row.Chain, row.Problem = chainOf(byID, s)
			if row.Problem != "" {
				row.Status = "broken"
			}
		}
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].VM < rows[j].VM })
	return rows
}

// chainOf follows a set's parents back to its full: the sets a restore of
// it reads, full first, or why it cannot.
func chainOf(byID map[string]sets.SetInfo, s sets.SetInfo) ([]string, string) {
	chain := []string{s.ID}
	for cur := s; cur.Catalog != nil && cur.Catalog.Parent != ""; {
		p, ok := byID[cur.Catalog.Parent]
		switch {
		case !ok:
			return nil, "its parent " + cur.Catalog.Parent + " is not on the target"
		case !p.Complete:
			return nil, "its parent " + p.ID + " is incomplete"
		case len(chain) > len(byID):
			return nil, "its chain loops"
		}
		chain = append([]string{p.ID}, chain...)
		cur = p
	}
	return chain, ""
}

func printSets(w io.Writer, rows []setRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tPOINT\tMODE\tCHAIN\tSIZE\tFILES\tSTATUS")
	var total int64
	vms := map[string]bool{}
	for _, r := range rows {
		chain, status := "-", r.Status
		if len(r.Chain) > 0 {
			chain = fmt.Sprint(len(r.Chain))
		}
		if r.Problem != "" {
			status += ": " + r.Problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", oneline.Escape(r.VM), oneline.Escape(r.Point), oneline.Escape(orDefault(r.Mode, "-")), oneline.Escape(chain), progress.Size(r.Size), r.Files, oneline.Escape(status))
		total += r.Size
		vms[r.VM] = true
	}
	tw.Flush()
	fmt.Fprintf(w, "%d set(s) of %d VM(s), %s\n", len(rows), len(vms), progress.Size(total))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
