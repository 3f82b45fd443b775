package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/vmlua/vmlua/internal/cli/progress"
	"github.com/vmlua/vmlua/internal/fleet"
	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/internal/window"
	"github.com/vmlua/vmlua/modules/question"
	modscript "github.com/vmlua/vmlua/modules/script"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// fleetFlags are run's flags for running a script once per VM.
type fleetFlags struct {
	each                                   string
	jobs, perHost, perDatastore, perTarget int
	shard                                  string
	allowEmpty                             bool
}

func (f *fleetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.each, "each", "", "run the script once per VM matching this specifier (any:, powerstate:on, name:web-*, folder:/DC0/vm/prod, tag:Backup:gold, ...; terms separated by spaces must all match: quote the whole specifier); the VM reaches the script as vm=moref:vm-42 and vm_name=; only a script whose script.args declares vm = { each = true } is run (others are refused before anything runs, exit 2), and each line it prints starts with its VM's name")
	fs.IntVar(&f.jobs, "jobs", 4, "with --each: scripts running at once")
	fs.IntVar(&f.perHost, "per-host", 0, "with --each: at most this many VMs of one ESX host at once (the book: 2-4); 0 = no limit")
	fs.IntVar(&f.perDatastore, "per-datastore", 0, "with --each: at most this many VMs using one datastore at once; 0 = no limit")
	fs.IntVar(&f.perTarget, "per-target", 0, "with --each: at most this many concurrent operations on one transport target (scheme://host); 0 = no limit")
	fs.StringVar(&f.shard, "shard", "", "with --each: take only shard i of n (\"i/n\"), a stable split by VM UUID, so several machines share a fleet")
	fs.BoolVar(&f.allowEmpty, "allow-empty", false, "a selection that matches no VM is fine (exit 0): with --each, the specifier; without, the script gets allow_empty=true (the shipped backup scripts otherwise exit 6, nothing_selected)")
}

// eachOnly are the flags that shape an --each run and mean nothing
// without one.
var eachOnly = []string{"shard", "jobs", "per-host", "per-datastore", "per-target"}

// check refuses, before anything runs (a usage error, exit 2), the flags
// of an --each run given without --each, which would be ignored: with
// --shard 1/3 and no --each, every machine of a sharded fleet ran the
// script on every VM, and exited 0. With --each, a --shard that is not
// i/n is refused before vSphere is asked anything.
func (f *fleetFlags) check(fs *flag.FlagSet) error {
	if f.each == "" {
		var given []string
		fs.Visit(func(fl *flag.Flag) {
			if slices.Contains(eachOnly, fl.Name) {
				given = append(given, "--"+fl.Name)
			}
		})
		if len(given) > 0 {
			works, is := "works", "it would be"
			if len(given) > 1 {
				works, is = "work", "they would be"
			}
			return fmt.Errorf("%s %s with --each only (the script run once per VM that --each selects); without --each %s ignored: add --each SPEC, e.g. --each powerstate:on", strings.Join(given, " and "), works, is)
		}
		return nil
	}
	if f.shard != "" {
		if _, _, err := fleet.ParseShard(f.shard); err != nil {
			return err
		}
	}
	return nil
}

// hostArgs hands --allow-empty to a single script as allow_empty=true, a
// key the host adds (script.args accepts it without a declaration).
func (f *fleetFlags) hostArgs(o *runtime.Options) {
	if f.allowEmpty {
		o.Args = append(append([]string{}, o.Args...), "allow_empty=true")
		o.HostArgs = append(o.HostArgs, "allow_empty")
	}
}

// fleetSummary is what runEach reports.
type fleetSummary struct {
	Results []fleet.Result
	Stats   fleet.Stats
	// Rows are the result rows the scripts recorded (script.result), per
	// VM moref.
	Rows map[string][]map[string]any
}

// runEach runs script once per VM and prints a table; the exit status is
// the worst of the runs' (see worse).
func runEach(ctx context.Context, f *runFlags, ff *fleetFlags, src *scriptSource, args []string, stdout, stderr io.Writer) int {
	start := time.Now()
	script := src.name
	held := f.scriptOutput(stdout, stderr)
	sum, code := eachVM(ctx, f, ff, src, args, stderr)
	if sum == nil {
		// eachVM said why on stderr
		f.finishOutput(newReport(script, code, errors.New("the fleet run did not start (see stderr)"), time.Since(start), nil), nil, stdout)
		return code
	}
	if !f.out.json && (!f.out.quiet || code != exitOK) {
		printFleetTable(stdout, sum)
	}
	rep := newReport(script, code, nil, time.Since(start), nil)
	rep.Runs = []runRow{}
	for _, res := range sum.Results {
		status, c := resultStatus(res.Err)
		row := runRow{VM: res.Item.Name, Host: res.Item.Host, Status: status, Exit: c, Seconds: seconds(res.Took)}
		if res.Err != nil {
			row.Message = errMessage(res.Err)
		}
		rep.Runs = append(rep.Runs, row)
		for _, r := range sum.Rows[res.Item.Ref] {
			if _, ok := r["vm"]; !ok {
				r["vm"] = res.Item.Name
			}
			rep.Results = append(rep.Results, r)
		}
	}
	f.finishOutput(rep, held, stdout)
	return code
}

// eachVM does the work of runEach and returns the results.
func eachVM(ctx context.Context, f *runFlags, ff *fleetFlags, src *scriptSource, args []string, stderr io.Writer) (*fleetSummary, int) {
	if err := modscript.ForEach(src.name, src.text); err != nil {
		return nil, reportErr(stderr, &exitError{exitUsage, fmt.Errorf("--each: %w", err)})
	}
	base, err := f.options(ctx, stderr, args)
	if err != nil {
		return nil, reportErr(stderr, err)
	}
	src.logShipped(base.Logger)
	spec, err := vm.ParseSpec(ff.each)
	if err != nil {
		return nil, reportErr(stderr, &exitError{exitUsage, fmt.Errorf("--each: %w", err)})
	}
	pool := vm.NewPool()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = pool.Close(cctx)
	}()
	vm.SharePool(&base, pool)
	if ff.perTarget > 0 {
		modtransport.ShareTargetLimits(&base, transports.NewTargetLimits(ff.perTarget))
	}

	// Plan: resolve the VMs with a run that runs no script.
	planner, err := runtime.New(base)
	if err != nil {
		return nil, reportErr(stderr, &exitError{exitUsage, err})
	}
	defer planner.Close()
	c, err := vm.Connect(planner, "")
	var items []fleet.Item
	if err == nil {
		items, err = c.FleetItems(planner.Context(), spec)
	}
	if err != nil {
		return nil, reportErr(stderr, fmt.Errorf("--each %s: %w", ff.each, err))
	}
	what := "--each " + ff.each + " matches no VM"
	if len(items) == 0 {
		if hint := c.ClosestVM(planner.Context(), spec); hint != "" {
			what += " (did you mean " + hint + "?)"
		}
	} else if ff.shard != "" {
		what = fmt.Sprintf("--shard %s of --each %s holds none of its %d VMs", ff.shard, ff.each, len(items))
	}
	if ff.shard != "" {
		i, n, err := fleet.ParseShard(ff.shard)
		if err != nil {
			return nil, reportErr(stderr, &exitError{exitUsage, err})
		}
		all := len(items)
		items = fleet.Shard(items, i, n)
		base.Logger.Info("shard", "shard", ff.shard, "vms", len(items), "of", all)
	}
	cleanupBeforeDispatch(planner, c, spec, items)
	planner.Close()
	if len(items) == 0 {
		if ff.allowEmpty {
			base.Logger.Warn("no VM matches; nothing to do (--allow-empty)", "each", ff.each)
			return &fleetSummary{}, exitOK
		}
		fmt.Fprintf(stderr, "vmlua: %s: nothing was run (exit %d, nothing_selected; give --allow-empty if that is expected)\n", what, exitNothingSelected)
		return &fleetSummary{}, exitNothingSelected
	}
	lim := fleet.Limits{Jobs: ff.jobs, PerHost: ff.perHost, PerDatastore: ff.perDatastore}
	if g, ok := modscript.SharedWindow(base); ok {
		lim.Closed = g.Closed
	}
	var rowsMu sync.Mutex
	rows := map[string][]map[string]any{}
	results, stats := fleet.Run(ctx, items, lim, func(ctx context.Context, it fleet.Item) error {
		o := base
		o.Context = ctx
		o.Logger = base.Logger.With("vm", it.Name)
		o.Stdout = vmLines{w: base.Stdout, vm: it.Name}
		o.Args = append(append([]string{}, args...), "vm=moref:"+it.Ref, "vm_name="+it.Name)
		o.HostArgs = append(append([]string{}, o.HostArgs...), "vm", "vm_name")
		r, err := runtime.New(o)
		if err != nil {
			return err
		}
		if f.answer != "" {
			p, err := question.LoadRules(r, f.answer)
			if err != nil {
				r.Close()
				return err
			}
			question.Install(r, p)
		}
		err = r.ExecString(src.chunk(), src.text)
		rowsMu.Lock()
		rows[it.Ref] = r.Results()
		rowsMu.Unlock()
		return err
	})
	if s, ok := base.Progress.(*progress.Sink); ok {
		s.Wait()
	}
	failed, partial, notStarted, code := 0, 0, 0, exitOK
	for _, res := range results {
		name, c := resultStatus(res.Err)
		if name == "not_started" {
			notStarted++
		} else if c == exitPartial {
			partial++
		}
		if c != exitOK && c != exitPartial && c != exitNothingSelected {
			failed++
		}
		code = worse(code, c)
	}
	if notStarted > 0 {
		var names []string
		var why string
		for _, res := range results {
			if n, _ := resultStatus(res.Err); n == "not_started" {
				names = append(names, res.Item.Name)
				why = res.Err.Error()
			}
		}
		base.Logger.Warn("VMs not started: the backup window closed", "vms", strings.Join(names, ","), "count", notStarted, "why", why)
	}
	base.Logger.Info("fleet run finished", "vms", len(results), "failed", failed, "partial", partial, "not_started", notStarted, "max_running", stats.MaxRunning, "max_per_host", maxOf(stats.MaxPerHost), "max_per_datastore", maxOf(stats.MaxPerDatastore))
	return &fleetSummary{Results: results, Stats: stats, Rows: rows}, code
}

// vmLines is the stdout of one VM's run under --each: every line the
// script prints starts with the VM's name (unless it already does), so
// that the lines of runs in parallel say which VM they are about.
type vmLines struct {
	w  io.Writer // nil: os.Stdout
	vm string
}

func (v vmLines) Write(p []byte) (int, error) {
	w := v.w
	if w == nil {
		w = os.Stdout
	}
	var b bytes.Buffer
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if rest, ok := bytes.CutPrefix(line, []byte(v.vm)); !ok || (len(rest) > 0 && !bytes.ContainsAny(rest[:1], ": \t\n")) {
			b.WriteString(v.vm + ": ")
		}
		b.Write(line)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// cleanupBeforeDispatch commits the REDO logs killed runs left on the VMs
// about to be run for (this shard's), so that their backups do not fail on
// a disk with two snapshot levels. A failure is logged; that VM's own run
// then fails with the cause.
func cleanupBeforeDispatch(planner *runtime.Run, c *vm.Conn, spec vm.Spec, items []fleet.Item) {
	if len(items) == 0 {
		return
	}
	only := make(map[string]bool, len(items))
	for _, it := range items {
		only[it.Ref] = true
	}
	done, err := c.CleanupOrphans(planner, spec, only)
	if err != nil {
		planner.Log.Error("--each: committing the REDO logs earlier runs left failed; the runs of those VMs go ahead and report it", "error", err)
	}
	if len(done) > 0 {
		planner.Log.Warn("--each: before the runs, committed the REDO logs that earlier vmlua runs left (killed before their cleanup)", "snapshots", len(done), "dry_run", planner.DryRun)
	}
}

// resultStatus names the outcome of one VM's run and its exit status: a
// VM the closed backup window kept from starting is not_started, 7
// (partial: the fleet left it out).
func resultStatus(err error) (string, int) {
	var ce *window.ClosedError
	if errors.As(err, &ce) {
		return "not_started", exitPartial
	}
	c := runtime.ExitStatus(err)
	return runtime.StatusName(c), c
}

func maxOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n = max(n, v)
	}
	return n
}

func printFleetTable(w io.Writer, s *fleetSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tHOST\tRESULT\tTIME\tMESSAGE")
	for _, r := range s.Results {
		res, _ := resultStatus(r.Err)
		msg := ""
		if r.Err != nil {
			msg = errMessage(r.Err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", oneline.Escape(r.Item.Name), oneline.Escape(r.Item.Host), res, r.Took.Round(time.Millisecond), oneline.Escape(msg))
	}
	tw.Flush()
}
