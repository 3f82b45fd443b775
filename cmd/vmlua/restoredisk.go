package main

import (
	"flag"
	"fmt"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/vm"
)

func init() { register(func() verb { return &restoreDiskVerb{} }) }

// restoreDiskVerb is vmlua restore-disk: backup.restore_disk.
type restoreDiskVerb struct {
	o         opFlags
	replace   string
	datastore string
}

func (*restoreDiskVerb) About() about {
	return about{
		name:    "restore-disk",
		summary: "restore one disk of a backup set into an existing VM",
		usage: `Usage: vmlua restore-disk [FLAGS] TARGET VM[@POINT] DISK INTO

Restores disk DISK (e.g. scsi0:1) of the VM's newest complete set on TARGET, or of the set
of POINT, into the existing VM INTO (a specifier naming one VM, e.g. name:DB01-test): the
disk is written as a new disk in INTO's folder (an incremental with its chain, every layer
checked), with a UUID of its own, and attached to INTO as a new disk on a free unit; with
--replace DISK2 it takes the place of INTO's disk DISK2 instead, which is refused unless INTO
is powered off (the replaced disk's files stay on the datastore). A failure after the files
were written removes them and leaves INTO unchanged. --dry-run checks and changes nothing.
TARGET is granted for this command. The same as backup.restore_disk{...}.

Flags:`,
		footer: "Exit status: 0 restored, 1 the restore failed (a running VM's disk to replace, a disk the set does not hold, vSphere refused), " + opFooter + ".",
	}
}

func (v *restoreDiskVerb) Flags(fs *flag.FlagSet) {
	v.o.register(fs, true, true)
	fs.StringVar(&v.replace, "replace", "", "a disk of INTO (e.g. scsi0:0) the restored disk replaces; INTO must be powered off (default: attach as a new disk)")
	fs.StringVar(&v.datastore, "datastore", "", "the datastore the disk's files go to, in INTO's folder (default: the datastore of INTO's .vmx)")
}

func (v *restoreDiskVerb) Run(inv *call, pos []string) int {
	if len(pos) != 4 {
		return inv.usageError()
	}
	target, disk := pos[0], pos[2]
	vmName, point := splitPoint(pos[1])
	res := map[string]any{"dry_run": v.o.f.dryRun, "disk": disk}
	spec, err := vm.ParseSpec(pos[3])
	if err != nil {
		return reportErr(inv.stderr, &exitError{exitUsage, err})
	}
	x, h, code := v.o.startTarget(inv, target, res)
	if x == nil {
		return code
	}
	defer x.close()
	set, err := backup.ResolveSet(x.r, h, setArg(vmName, point), vmName, true)
	if err != nil {
		return x.fail(err, res)
	}
	res["set"] = set
	c, err := vm.Connect(x.r, "")
	if err != nil {
		return x.fail(err, res)
	}
	into, err := c.Open(x.r.Context(), spec, pos[3])
	if err != nil {
		return x.fail(err, res)
	}
	res["into"] = into.Name()
	rd, err := backup.RestoreDisk(x.r, h.T, backup.RestoreDiskOptions{Set: set, Disk: disk, VM: into, Replace: v.replace, Datastore: v.datastore})
	if err != nil {
		return x.fail(err, res)
	}
	res["id"], res["path"], res["replaced"] = rd.ID, rd.Path, rd.Replaced
	if !v.o.json {
		switch {
		case x.r.DryRun:
			fmt.Fprintf(x.stdout, "dry run: disk %s of %s would be restored into %s as %s; nothing was changed\n", oneline.Escape(disk), oneline.Escape(set), oneline.Escape(into.Name()), oneline.Escape(rd.Path))
		case rd.Replaced != "":
			fmt.Fprintf(x.stdout, "restored disk %s of %s into %s as %s (%s), in place of %s (its files are kept)\n", oneline.Escape(disk), oneline.Escape(set), oneline.Escape(into.Name()), rd.ID, oneline.Escape(rd.Path), oneline.Escape(rd.Replaced))
		default:
			fmt.Fprintf(x.stdout, "restored disk %s of %s into %s as a new disk %s (%s)\n", oneline.Escape(disk), oneline.Escape(set), oneline.Escape(into.Name()), rd.ID, oneline.Escape(rd.Path))
		}
	}
	x.result(exitOK, nil, res)
	return exitOK
}
