package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vmlua/vmlua/internal/cli/progress"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

func init() { register(func() verb { return &demoVerb{} }) }

// demoInventory is the simulated estate the demo backs up: a multi-disk
// database VM (one disk on another datastore, one independent disk that
// cannot be frozen) and a few single-disk VMs, all running and writing.
func demoInventory(size int64) []vsim.VMSpec {
	return []vsim.VMSpec{
		{Name: "DB01", ChangeTracking: true, Tags: []string{"Backup:gold", "Env:prod"}, Disks: []vsim.DiskSpec{
			{Size: size, Datastore: "LocalDS_0"}, {Size: size, Datastore: "LocalDS_1"}, {Size: size / 4, Datastore: "LocalDS_0", Mode: "independent_persistent"}}},
		{Name: "WEB01", Tags: []string{"Backup:silver", "Env:prod"}}, {Name: "WEB02", Tags: []string{"Backup:silver", "Env:prod"}},
		{Name: "APP01", Tags: []string{"Backup:silver", "Env:test"}, Disks: []vsim.DiskSpec{{Size: size}, {Size: size / 2}}},
	}
}

// demoVerb is vmlua demo.
type demoVerb struct{ out, size string }

func (*demoVerb) About() about {
	return about{
		name:    "demo",
		summary: "back up simulated VMs into a local folder, verify, restore one, and show the result",
		usage: `Usage: vmlua demo [--out DIR] [--disk-size SIZE]

Starts the embedded vSphere simulator (VMs with real disk content whose
guests keep writing), backs every VM up with scripts/backup_all.lua (two at a
time per host, live progress), verifies every set, restores DB01 under a new
name on another datastore, proves the restore byte-exact, and prints a
summary. No vCenter needed.

Flags:`,
	}
}

func (v *demoVerb) Flags(fs *flag.FlagSet) {
	fs.StringVar(&v.out, "out", "vmlua-demo", "folder for the backups and a copy of the scripts")
	fs.StringVar(&v.size, "disk-size", "64M", "size of each simulated disk")
}

func (v *demoVerb) Run(inv *call, pos []string) int {
	stdout, stderr := inv.stdout, inv.stderr
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "vmlua demo: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	diskSize, err := parseSize(v.size)
	if err != nil {
		return reportErr(stderr, &exitError{exitUsage, fmt.Errorf("--disk-size: %w", err)})
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	if err := runDemo(ctx, v.out, diskSize, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "vmlua demo: %v\n", err)
		if ctx.Err() != nil {
			return exitCanceled
		}
		return exitFailure
	}
	return exitOK
}

func runDemo(ctx context.Context, out string, diskSize int64, stdout, stderr io.Writer) error {
	start := time.Now()
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	backups := filepath.Join(out, "backups")
	scriptDir := filepath.Join(out, "scripts")
	if err := prepareDemoBackups(out, backups, demoInventory(diskSize), stdout); err != nil {
		return err
	}
	// The user's copy of the scripts is theirs to edit: export never
	// overwrites it. The demo itself runs the shipped scripts, from a
	// private copy.
	exported, err := exportScripts(scriptDir)
	if err != nil {
		return err
	}
	if len(exported.Kept) > 0 {
		fmt.Fprintf(stdout, "vmlua demo: kept your edited copies in %s: %s (the demo runs the shipped versions)\n", scriptDir, strings.Join(exported.Kept, ", "))
	}
	dsDir, err := os.MkdirTemp("", "vmlua-demo-datastores-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dsDir)
	shipped := filepath.Join(dsDir, "shipped-scripts")
	if _, err := exportScripts(shipped); err != nil {
		return err
	}

	fmt.Fprintln(stdout, "vmlua demo: starting the embedded vSphere simulator (4 VMs, 7 disks, guests writing)")
	sim, err := vsim.Start(ctx, vsim.Options{Inventory: demoInventory(diskSize), DiskSize: diskSize, DatastoreDir: dsDir, WriteRate: 50})
	if err != nil {
		return fmt.Errorf("start the simulator: %w", err)
	}
	defer sim.Close()

	f := &runFlags{url: sim.URL.String(), insecure: true, logFormat: "text", logLevel: "warn", allow: stringList{"file://" + backups}, scriptOut: io.Discard, showProgress: true}
	target := "to=file://" + backups

	fmt.Fprintln(stdout, "\n1. Backing up every VM with scripts/backup_all.lua (3 at a time, at most 2 per host)")
	// mode=full: every VM's set is a full one (the demo shows a backup and
	// a byte-exact restore; a site's nightly runs make incrementals).
	sum, code := eachVM(ctx, f, &fleetFlags{each: "any:", jobs: 3, perHost: 2}, filepath.Join(shipped, "backup_all.lua"), []string{target, "keep=3", "mode=full"}, stderr)
	if sum == nil || (code != exitOK && code != exitPartial) { // DB01's independent disk makes its set partial
		if sum != nil {
			printFleetTable(stdout, sum)
		}
		return errors.New("the backups did not all succeed (see above)")
	}

	t, err := file.New(backups)
	if err != nil {
		return err
	}
	defer t.Close()
	planner, err := runtime.New(runtime.Options{Context: ctx, Logger: quietLogger(stderr)})
	if err != nil {
		return err
	}
	defer planner.Close()

	fmt.Fprintln(stdout, "\n2. Verifying every set: re-reading every file and checking its sha256 against the catalog")
	rows, err := demoRows(planner, t, sum)
	if err != nil {
		return err
	}

	fmt.Fprintln(stdout, "\n3. Restoring DB01 as DB01-restored on LocalDS_1 with scripts/restore.lua, then backing the restored VM up")
	ropts, err := f.options(ctx, stderr, []string{"from=file://" + backups, "vm=DB01", "name=DB01-restored", "datastore=LocalDS_1"})
	if err != nil {
		return err
	}
	r, err := runtime.New(ropts)
	if err != nil {
		return err
	}
	if err := r.ExecFile(filepath.Join(shipped, "restore.lua")); err != nil && runtime.ExitStatus(err) != exitPartial {
		return fmt.Errorf("restore: %w", err)
	}
	if _, code := eachVM(ctx, f, &fleetFlags{each: "name:DB01-restored", jobs: 1}, filepath.Join(shipped, "backup_all.lua"), []string{target, "keep=1", "mode=full"}, stderr); code != exitOK && code != exitPartial {
		return errors.New("backing up the restored VM failed")
	}
	exact, err := compareSets(ctx, t, "DB01", "DB01-restored")
	if err != nil {
		return err
	}

	fmt.Fprintln(stdout, "\n4. Backing up every host's configuration with scripts/host_config_backup.lua")
	if hopts, err := f.options(ctx, stderr, []string{target, "keep=3"}); err != nil {
		return err
	} else if hr, err := runtime.New(hopts); err != nil {
		return err
	} else if err := hr.ExecFile(filepath.Join(scriptDir, "host_config_backup.lua")); err != nil {
		return fmt.Errorf("host configuration backup: %w", err)
	}

	fmt.Fprintln(stdout, "\nSummary")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tDISKS\tCAPACITY\tSTORED\tTIME\tMiB/s\tSTATUS\tVERIFIED")
	var partial []string
	for _, row := range rows {
		status := row.status
		if len(row.missing) > 0 {
			status += " (lacks " + strings.Join(row.missing, ",") + ")"
			partial = append(partial, row.vm+" "+strings.Join(row.missing, ","))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.0f\t%s\t%s\n", row.vm, row.disks, progress.Size(row.capacity), progress.Size(row.stored), row.took.Round(time.Millisecond), row.mibps, status, row.verified)
	}
	tw.Flush()
	if len(partial) > 0 {
		fmt.Fprintf(stdout, "\nPartial sets: %s — independent disks cannot be frozen while the VM runs, so they are not in the set, a restore yields the VM without them, and a nightly run exits 7 (partial) for them (docs/backup.md, Partial sets).\n", strings.Join(partial, "; "))
	}
	fmt.Fprintf(stdout, "\nRestore of DB01 as DB01-restored: %s\n", exact)
	fmt.Fprintf(stdout, "\nDone in %s. Files:\n  backup sets  %s/<VM>/<UTC time>/ (catalog.json, disk images, .vmx ...)\n  host configs %s/host/<host>/<UTC time>/ (configBundle-<host>.tgz, its .json sidecar, catalog.json)\n  scripts      %s/ (copies of the shipped scripts to adapt)\n",
		time.Since(start).Round(100*time.Millisecond), backups, backups, scriptDir)
	fmt.Fprintln(stdout, demoNext(backups, scriptDir))
	if !strings.HasPrefix(exact, "byte-exact") {
		return errors.New("the restored VM's disks differ from the original set")
	}
	return nil
}

// demoNext is the demo's last word: commands to run next, each of which
// leaves what the next one needs (a backup set restore.lua restores), on a
// fresh simulator of their own (--sim: DB01, VM1, VM2).
func demoNext(backups, scriptDir string) string {
	allow := "--allow file://" + backups
	return "\nNext: back up a VM of a fresh simulator into a set beside the demo's, then restore it from there:\n" +
		"  vmlua run --sim " + allow + " " + filepath.Join(scriptDir, "backup_all.lua") + " to=file://" + backups + " vms=name:VM1\n" +
		"  vmlua run --sim " + allow + " " + filepath.Join(scriptDir, "restore.lua") + " from=file://" + backups + " vm=VM1 name=VM1-restored\n" +
		"or against your vCenter (--url, VMLUA_URL or a config file); docs/quickstart.md has the rest."
}

// demoMarker marks a folder the demo wrote its backups into.
const demoMarker = ".vmlua-demo"

// prepareDemoBackups makes the backups folder and, when an earlier demo run
// left sets there (its marker is present), removes the sets of the demo's
// own VMs, so that every run leaves one set per VM instead of adding
// hundreds of MiB. Other files are left alone; a folder without the marker
// that holds anything but the demo's VMs is refused.
func prepareDemoBackups(out, backups string, inv []vsim.VMSpec, stdout io.Writer) error {
	marker := filepath.Join(out, demoMarker)
	ents, err := os.ReadDir(backups)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		own := map[string]bool{demoRestoredName: true}
		for _, v := range inv {
			own[v.Name] = true
		}
		if _, merr := os.Stat(marker); merr != nil {
			// No marker: only a folder holding nothing but the demo's VMs
			// (an older demo's) is taken as the demo's own.
			for _, e := range ents {
				if !own[e.Name()] {
					return fmt.Errorf("%s holds %s, which the demo did not write; give another --out", backups, e.Name())
				}
			}
		}
		removed := 0
		for _, e := range ents {
			if own[e.Name()] {
				if err := os.RemoveAll(filepath.Join(backups, e.Name())); err != nil {
					return err
				}
				removed++
			}
		}
		if removed > 0 {
			fmt.Fprintf(stdout, "vmlua demo: replacing the sets an earlier demo run left in %s\n", backups)
		}
	}
	if err := os.MkdirAll(backups, 0o750); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte("vmlua demo writes its backups under backups/ and replaces them on the next run\n"), 0o644)
}

// demoRestoredName is the VM the demo restores DB01 as.
const demoRestoredName = "DB01-restored"

func quietLogger(w io.Writer) *slog.Logger {
	l, _ := newLogger(w, "text", "warn")
	return l
}

type demoRow struct {
	vm       string
	disks    int
	capacity int64
	stored   int64
	took     time.Duration
	mibps    float64
	status   string   // the set's: ok, partial
	missing  []string // the disks a partial set lacks
	verified string
}

// demoRows verifies each VM's newest set and describes it.
func demoRows(r *runtime.Run, t transports.Transport, sum *fleetSummary) ([]demoRow, error) {
	var rows []demoRow
	for _, res := range sum.Results {
		list, err := sets.List(r.Context(), t, res.Item.Name)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 || !list[len(list)-1].Complete {
			return nil, fmt.Errorf("%s has no complete set", res.Item.Name)
		}
		id, cat := list[len(list)-1].ID, list[len(list)-1].Catalog // a complete set's catalog.json
		v, err := sets.Verify(r, t, id)
		if err != nil {
			return nil, err
		}
		row := demoRow{vm: res.Item.Name, disks: len(cat.Disks), took: res.Took, status: cat.StatusOf(), verified: "ok"}
		for _, sk := range cat.Skipped {
			if !sk.Excluded {
				row.missing = append(row.missing, sk.ID)
			}
		}
		for _, d := range cat.Disks {
			row.capacity += d.Capacity
		}
		for _, fi := range cat.Files {
			row.stored += fi.Size
		}
		if s := row.took.Seconds(); s > 0 {
			row.mibps = float64(row.capacity) / (1 << 20) / s
		}
		if !v.OK {
			row.verified = fmt.Sprintf("FAILED (%d problems)", len(v.Problems))
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].vm < rows[j].vm })
	for _, row := range rows {
		if row.verified != "ok" {
			return rows, fmt.Errorf("set of %s failed verification", row.vm)
		}
	}
	return rows, nil
}

// compareSets checks that the newest sets of two VMs hold the same disk
// content, disk by disk (the catalogs' content sha256).
func compareSets(ctx context.Context, t transports.Transport, a, b string) (string, error) {
	latest := func(vmName string) (*catalog.Catalog, error) {
		list, err := sets.List(ctx, t, vmName)
		if err != nil || len(list) == 0 {
			return nil, fmt.Errorf("no set of %s: %v", vmName, err)
		}
		return sets.ReadCatalog(ctx, t, list[len(list)-1].ID+"/"+catalog.FileName)
	}
	ca, err := latest(a)
	if err != nil {
		return "", err
	}
	cb, err := latest(b)
	if err != nil {
		return "", err
	}
	got := map[string]string{}
	for _, d := range cb.Disks {
		got[d.ID] = d.ContentSHA256
	}
	var same []string
	for _, d := range ca.Disks {
		if got[d.ID] != d.ContentSHA256 {
			return fmt.Sprintf("DIFFERENT: disk %s of %s does not match %s", d.ID, b, a), nil
		}
		same = append(same, d.ID)
	}
	return fmt.Sprintf("byte-exact (%s: sha256 of every disk equals the original set's)", strings.Join(same, ", ")), nil
}
