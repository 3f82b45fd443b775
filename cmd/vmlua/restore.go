package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/backup"
)

func init() { register(func() verb { return &restoreVerb{} }) }

// restoreVerb is vmlua restore.
type restoreVerb struct {
	o  opFlags
	ro backup.RestoreOptions
}

func (*restoreVerb) About() about {
	return about{
		name:    "restore",
		summary: "restore a VM from a backup set",
		usage: `Usage: vmlua restore [FLAGS] TARGET VM[@POINT]

Restores the VM's newest complete set on TARGET, or the set of POINT (as vmlua sets list
shows it, e.g. 20261203T135450Z), as vcbRestore did: uploads its files to the datastore
(disk images decompressed and checked against the catalog on the fly; an incremental with
its chain), rewrites the paths in the .vmx and registers the VM. Without flags it goes back
where it came from, under its own name; --name and --datastore restore a copy beside it.
A VM of that name already registered is a conflict unless --on-conflict says otherwise.
--dry-run checks everything and changes nothing. TARGET is granted for this command. The
same restore as backup.restore{from=TARGET, set=..., ...}.

Flags:`,
		footer: "Exit status: 0 restored, 1 the restore failed (a conflict, a set that does not verify, vSphere refused), " + opFooter + ".",
	}
}

func (v *restoreVerb) Flags(fs *flag.FlagSet) {
	v.o.register(fs, true, true)
	ro := &v.ro
	fs.StringVar(&ro.Name, "name", "", "the restored VM's name (default: the original's)")
	fs.StringVar(&ro.Datastore, "datastore", "", "the datastore every file goes to (default: the original's)")
	fs.StringVar(&ro.OnConflict, "on-conflict", backup.ConflictAbort, "when a VM of that name exists: abort, keep (return the existing VM untouched) or overwrite (only a powered-off VM; it is replaced once the new files are complete)")
	fs.StringVar(&ro.Folder, "folder", "", "inventory path of the VM folder (default: the original's)")
	fs.StringVar(&ro.Pool, "pool", "", "inventory path of the resource pool (default: the original's)")
	fs.StringVar(&ro.Host, "host", "", "the host to register the VM on (default: the original's)")
	fs.BoolVar(&ro.PowerOn, "power-on", false, "power the restored VM on")
	fs.BoolVar(&ro.Force, "force", false, "restore an incomplete set (its backup did not finish)")
}

// flagSpelling spells a restore option as this command's flag, for the
// hints of its errors (--on-conflict overwrite, not on_conflict="overwrite").
func flagSpelling(option, value string) string {
	f := "--" + strings.ReplaceAll(option, "_", "-")
	if value == "" {
		return f
	}
	return f + " " + value
}

func (v *restoreVerb) Run(inv *call, pos []string) int {
	if len(pos) != 2 {
		return inv.usageError()
	}
	target := pos[0]
	vmName, point := splitPoint(pos[1])
	res := map[string]any{"dry_run": v.o.f.dryRun}
	x, h, code := v.o.startTarget(inv, target, res)
	if x == nil {
		return code
	}
	defer x.close()
	ro := v.ro
	ro.Spell = flagSpelling
	var err error
	if ro.Set, err = backup.ResolveSet(x.r, h, setArg(vmName, point), vmName, !ro.Force); err != nil {
		return x.fail(err, res)
	}
	res["set"] = ro.Set
	restored, cat, err := backup.Restore(x.r, h.T, ro)
	if cat != nil {
		res["status"] = cat.StatusOf()
		missing := []map[string]string{}
		for _, s := range cat.Skipped {
			missing = append(missing, map[string]string{"id": s.ID, "path": s.Path, "reason": s.Reason})
		}
		res["missing_disks"] = missing
	}
	if err != nil {
		return x.fail(err, res)
	}
	if restored != nil {
		res["vm"], res["moref"], res["vmx"] = restored.Name(), restored.Ref.Value, restored.MO().Config.Files.VmPathName
	}
	if !v.o.json {
		switch {
		case restored == nil:
			fmt.Fprintf(x.stdout, "dry run: %s was checked and would be restored; nothing was changed\n", oneline.Escape(ro.Set))
		case ro.OnConflict == backup.ConflictKeep:
			// Restore returns the VM that was there, untouched, if any.
			fmt.Fprintf(x.stdout, "%s: VM %s (%s, %s), restored, or kept as it was (--on-conflict keep; the log says which)\n", oneline.Escape(ro.Set), oneline.Escape(restored.Name()), restored.Ref.Value, oneline.Escape(restored.MO().Config.Files.VmPathName))
		default:
			fmt.Fprintf(x.stdout, "restored %s as %s (%s, %s)\n", oneline.Escape(ro.Set), oneline.Escape(restored.Name()), restored.Ref.Value, oneline.Escape(restored.MO().Config.Files.VmPathName))
		}
		if cat != nil {
			for _, s := range cat.Skipped {
				fmt.Fprintf(x.stdout, "  without disk %s (%s): %s\n", oneline.Escape(s.ID), oneline.Escape(s.Path), oneline.Escape(s.Reason))
			}
		}
	}
	x.result(exitOK, nil, res)
	return exitOK
}
