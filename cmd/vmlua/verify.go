package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vmlua/vmlua/internal/cli/progress"
	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	modtransport "github.com/vmlua/vmlua/modules/transport"
)

func init() { register(func() verb { return &verifyVerb{} }) }

// verifyVerb is vmlua verify.
type verifyVerb struct{ o opFlags }

func (*verifyVerb) About() about {
	return about{
		name:    "verify",
		summary: "re-read backup sets and check them against their catalogs",
		usage: `Usage: vmlua verify [FLAGS] TARGET [VM[@POINT]]

Re-reads backup sets on TARGET and checks every file's size and sha256 against the set's
catalog and decodes every disk image; an incremental is checked with its whole chain. With
VM@POINT it checks that set (POINT as vmlua sets list shows it, e.g. 20261203T135450Z),
with VM the VM's newest complete set, without VM the newest complete set of every VM on
TARGET. Prints one line per set, and its problems. TARGET is granted for this command. The
same check as backup.verify{at=TARGET, set=...}.

Flags:`,
		footer: "Exit status: 0 every set checked is intact, 1 a set has problems or could not be read, " + opFooter + ".",
	}
}

func (v *verifyVerb) Flags(fs *flag.FlagSet) { v.o.register(fs, true, false) }

// verifyRow is one set vmlua verify checked.
type verifyRow struct {
	ID       string          `json:"id"`
	OK       bool            `json:"ok"`
	Files    int             `json:"files"`
	Bytes    int64           `json:"bytes"`
	Chain    []string        `json:"chain,omitempty"`
	Problems []verifyProblem `json:"problems"`
	// Unauthenticated: encrypted sets checked without an identity.
	Unauthenticated []string `json:"unauthenticated,omitempty"`
}

type verifyProblem struct {
	File    string `json:"file"`
	Problem string `json:"problem"`
}

func (v *verifyVerb) Run(inv *call, pos []string) int {
	if len(pos) < 1 || len(pos) > 2 {
		return inv.usageError()
	}
	target := pos[0]
	res := map[string]any{}
	x, h, code := v.o.startTarget(inv, target, res)
	if x == nil {
		return code
	}
	defer x.close()
	var ids, none []string
	var err error
	if len(pos) == 2 {
		vmName, point := splitPoint(pos[1])
		id, err := backup.ResolveSet(x.r, h, setArg(vmName, point), vmName, true)
		if err != nil {
			return x.fail(err, res)
		}
		ids = []string{id}
	} else if ids, none, err = newestOfEach(x, h); err != nil {
		return x.fail(err, res)
	}
	rows := make([]verifyRow, 0, len(ids)+len(none))
	failed := len(none)
	for _, vmDir := range none {
		rows = append(rows, verifyRow{ID: vmDir, Problems: []verifyProblem{{Problem: "no complete set: nothing to restore from"}}})
	}
	for _, id := range ids {
		vr, err := sets.Verify(x.r, h.T, id)
		if err != nil {
			res["sets"] = rows
			return x.fail(err, res)
		}
		row := verifyRow{ID: vr.ID, OK: vr.OK, Files: vr.Files, Bytes: vr.Bytes, Chain: vr.Chain, Problems: []verifyProblem{}, Unauthenticated: vr.Unauthenticated}
		for _, p := range vr.Problems {
			row.Problems = append(row.Problems, verifyProblem{File: p.File, Problem: p.Problem})
		}
		if !row.OK {
			failed++
		}
		rows = append(rows, row)
	}
	res["sets"] = rows
	if !v.o.json {
		printVerified(x.stdout, rows)
	}
	if failed > 0 {
		return x.fail(fmt.Errorf("%d of %d set(s) on %s failed verification", failed, len(rows), h.URL), res)
	}
	x.result(exitOK, nil, res)
	return exitOK
}

// newestOfEach returns the newest complete set of every VM on the target,
// and the VMs that have none (nothing they could be restored from).
func newestOfEach(x *op, h *modtransport.Handle) (ids, none []string, err error) {
	list, err := sets.List(x.r.Context(), h.T, "")
	if err != nil {
		return nil, nil, sets.TargetError(err, h.URL)
	}
	if len(list) == 0 {
		return nil, nil, nothingThere("no backup set on %s", h.URL)
	}
	newest := map[string]string{}
	var order []string
	for _, s := range list {
		if _, seen := newest[s.VM]; !seen {
			order = append(order, s.VM)
			newest[s.VM] = ""
		}
		if s.Complete {
			newest[s.VM] = s.ID // oldest first: the last one wins
		}
	}
	for _, vmDir := range order {
		if newest[vmDir] == "" {
			none = append(none, vmDir)
			continue
		}
		ids = append(ids, newest[vmDir])
	}
	return ids, none, nil
}

// splitPoint splits VM@POINT; POINT is "latest" when not given.
func splitPoint(s string) (vmName, point string) {
	if i := strings.LastIndex(s, "@"); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, "latest"
}

// setArg is the set= a VM and a POINT name: "latest", or the set id
// VM/POINT (host/NAME/POINT for a host's configuration sets).
func setArg(vmName, point string) string {
	if point == "latest" || point == "" {
		return "latest"
	}
	if rest, ok := strings.CutPrefix(vmName, catalog.HostPrefix); ok {
		return catalog.HostPrefix + sets.DirName(rest) + "/" + point
	}
	return sets.DirName(vmName) + "/" + point
}

func printVerified(w io.Writer, rows []verifyRow) {
	for _, r := range rows {
		status := "ok"
		if !r.OK {
			status = fmt.Sprintf("FAILED (%d problem(s))", len(r.Problems))
		}
		chain := ""
		if len(r.Chain) > 1 {
			chain = fmt.Sprintf(", a chain of %d set(s)", len(r.Chain))
		}
		if len(r.Unauthenticated) > 0 {
			chain += "; encrypted, stored bytes only (give --identity to check the catalog and content)"
		}
		fmt.Fprintf(w, "%s: %s: %d file(s), %s%s\n", oneline.Escape(r.ID), status, r.Files, progress.Size(r.Bytes), oneline.Escape(chain))
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s: %s\n", oneline.Escape(p.File), oneline.Escape(p.Problem))
		}
	}
}
