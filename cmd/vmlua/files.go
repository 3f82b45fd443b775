package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"time"

	"github.com/vmlua/vmlua/internal/cli/progress"
	"github.com/vmlua/vmlua/internal/guestfs"
	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/backup/sets/pointfiles"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/transports"
)

func init() { register(func() verb { return &filesVerb{} }) }

// filesVerb is vmlua files: guest files out of a restore point.
type filesVerb struct{ noFlags }

func (*filesVerb) About() about {
	return about{
		name:    "files",
		summary: "list and copy guest files out of a restore point, without the guest (ext2/3/4, FAT)",
		usage:   "Usage: vmlua files ls|get [FLAGS] TARGET VM[@POINT] [DISK] [PART:]PATH\n\nLists and copies the files of a restore point's disks. 'vmlua files ls --help' and 'vmlua files get --help' for the flags.",
		subs:    []verb{&filesLsVerb{}, &filesGetVerb{}},
	}
}

func (*filesVerb) Run(inv *call, _ []string) int { return inv.usageError() }

const filesAbout = `A restore point is the VM's newest complete set on TARGET, or the set of POINT (its timestamp as
vmlua sets list shows it, or latest); a full or any incremental, the chain applied on the fly,
nothing written anywhere, every byte read checked against the catalog span by span: a damaged span
is an error (exit 1), never wrong bytes. DISK is a disk id (scsi0:1; the point's first disk when
not given). vmlua reads the partition table (MBR, GPT) and ext2, ext3, ext4, FAT12, FAT16 and FAT32
file systems; PATH is absolute in the file system (/etc/hostname), prefixed with the partition's
number when the disk holds several (2:/etc/hostname). Other file systems (NTFS, XFS, LVM, ...):
vmlua mount or vmlua serve nbd, and the guest's tools. TARGET is granted for this command.`

// filesArgs are the positional arguments TARGET VM[@POINT] [DISK] [PATH].
type filesArgs struct{ target, vm, point, disk, path string }

var guestPathRE = regexp.MustCompile(`^([0-9]+:)?/`)

// parseFilesArgs splits the arguments; needPath: PATH is required.
func parseFilesArgs(pos []string, needPath bool) (filesArgs, bool) {
	var a filesArgs
	if len(pos) < 2 || len(pos) > 4 {
		return a, false
	}
	a.target = pos[0]
	a.vm, a.point = splitPoint(pos[1])
	rest := pos[2:]
	if len(rest) == 2 {
		a.disk, a.path = rest[0], rest[1]
	} else if len(rest) == 1 {
		if guestPathRE.MatchString(rest[0]) {
			a.path = rest[0]
		} else {
			a.disk = rest[0]
		}
	}
	if a.path != "" && !guestPathRE.MatchString(a.path) {
		return a, false
	}
	return a, a.path != "" || !needPath
}

// filesLsVerb is vmlua files ls.
type filesLsVerb struct {
	o        opFlags
	cacheMiB int64
}

func (*filesLsVerb) About() about {
	return about{
		name:    "ls",
		summary: "list a folder of a restore point's guest file system, or the disks' partitions",
		usage: `Usage: vmlua files ls [FLAGS] TARGET VM[@POINT] [DISK] [[PART:]PATH]

Lists the folder PATH of a restore point's disk, as ls -l: type and permissions, size, modification
time (UTC), name (a folder with /, a link with its target). Without PATH it lists the partitions of
the disk (every disk without DISK) and the file system in each.

` + filesAbout + `

  vmlua files ls file:///srv/backup DB01                      partitions and file systems
  vmlua files ls file:///srv/backup DB01@20261201T010203Z /etc
  vmlua files ls file:///srv/backup DB01 scsi0:1 2:/data

Flags:`,
		footer: "Exit status: 0 listed, 1 failed (a damaged span, TARGET unreadable), " + opFooter + ".",
	}
}

func (v *filesLsVerb) Flags(f *flag.FlagSet) {
	v.o.register(f, true, false)
	cacheFlag(f, &v.cacheMiB)
}

func (v *filesLsVerb) Run(inv *call, pos []string) int {
	a, ok := parseFilesArgs(pos, false)
	if !ok {
		return inv.usageError()
	}
	res := map[string]any{}
	x, h, code := v.o.startTarget(inv, a.target, res)
	if x == nil {
		return code
	}
	defer x.close()
	p, err := pointfiles.Open(x.r.Context(), h.T, a.vm, a.point, v.cacheMiB<<20)
	if err != nil {
		return x.fail(err, res)
	}
	defer p.Close()
	res["set"] = p.Catalog.ID
	if a.path == "" { // the partitions
		ids := []string{a.disk}
		if a.disk == "" {
			ids = nil
			for _, d := range p.Catalog.Disks {
				ids = append(ids, d.ID)
			}
		}
		var disks []map[string]any
		for _, id := range ids {
			ps, err := p.Partitions(id)
			if err != nil {
				return x.fail(err, res)
			}
			d, _ := p.Disk(id)
			var list []map[string]any
			if !v.o.json {
				fmt.Fprintf(x.stdout, "%s\t%s, %s\n", d.ID, oneline.Escape(d.Catalog.Path), progress.Size(d.Size()))
			}
			for _, pt := range ps {
				list = append(list, map[string]any{"number": pt.Number, "start": pt.Start, "size": pt.Size, "table": pt.Table, "type": pt.Type, "name": pt.Name, "fs": pt.FS, "readable": guestfs.Readable(pt.FS)})
				if !v.o.json {
					how := "read by vmlua files"
					if !guestfs.Readable(pt.FS) {
						how = "vmlua mount or serve nbd"
					}
					fmt.Fprintf(x.stdout, "  %d:\t%s, %s at %d (%s)\n", pt.Number, oneline.Escape(pt.String()), progress.Size(pt.Size), pt.Start, how)
				}
			}
			disks = append(disks, map[string]any{"disk": d.ID, "path": d.Catalog.Path, "size": d.Size(), "partitions": list})
		}
		res["disks"] = disks
		x.result(exitOK, nil, res)
		return exitOK
	}
	vol, gp, err := resolveGuestPath(p, a, res)
	if err != nil {
		return x.fail(err, res)
	}
	e, err := vol.Stat(gp)
	if err != nil {
		return x.fail(p.NotFound(err, a.path), res)
	}
	es := []guestfs.Entry{e}
	if e.IsDir() {
		if es, err = vol.List(gp); err != nil {
			return x.fail(p.NotFound(err, a.path), res)
		}
	}
	list := []map[string]any{}
	for _, e := range es {
		list = append(list, map[string]any{"name": e.Name, "path": e.Path, "type": entryType(e), "mode": fmt.Sprintf("%04o", e.Mode.Perm()), "size": e.Size, "mtime": e.ModTime.UTC().Format(time.RFC3339), "link": e.Link})
		if !v.o.json {
			name := oneline.Escape(e.Name)
			switch {
			case e.IsDir():
				name += "/"
			case e.Link != "":
				name += " -> " + oneline.Escape(e.Link)
			}
			fmt.Fprintf(x.stdout, "%s %12d %s %s\n", e.Mode.String(), e.Size, e.ModTime.UTC().Format("2006-01-02 15:04"), name)
		}
	}
	res["entries"] = list
	x.result(exitOK, nil, res)
	return exitOK
}

// resolveGuestPath opens the file system a's DISK and PATH name, and
// notes the disk, path, partition and file system in the JSON result.
func resolveGuestPath(p *pointfiles.Point, a filesArgs, res map[string]any) (*guestfs.Volume, string, error) {
	id, err := p.DiskID(a.disk)
	if err != nil {
		return nil, "", err
	}
	res["disk"], res["path"] = id, a.path
	vol, gp, err := p.Resolve(id, a.path)
	if err != nil {
		return nil, "", err
	}
	res["partition"], res["fs"] = vol.Partition.Number, vol.Partition.FS
	return vol, gp, nil
}

// entryType names an entry's kind for JSON.
func entryType(e guestfs.Entry) string {
	switch {
	case e.IsDir():
		return "folder"
	case e.Mode&fs.ModeSymlink != 0:
		return "link"
	case e.Mode.IsRegular():
		return "file"
	}
	return "other"
}

// filesGetVerb is vmlua files get.
type filesGetVerb struct {
	o                 opFlags
	cacheMiB          int64
	to, toCreds, name string
	asTar             bool
}

func (*filesGetVerb) About() about {
	return about{
		name:    "get",
		summary: "copy a guest file (or a folder, as tar) out of a restore point",
		usage: `Usage: vmlua files get [FLAGS] TARGET VM[@POINT] [DISK] [PART:]PATH

Copies the file PATH of a restore point's disk to stdout, or a folder as a tar archive (its files,
folders and links, from the folder's name on). With --to it uploads it instead to that URL (a
folder; granted for this command like TARGET), as NAME (--name; the file's name, or the folder's
name with .tar), atomically: the name appears only when complete and checked. To stdout, a read
that fails after the first bytes ends the copy with exit 1: check the exit status.

` + filesAbout + `

  vmlua files get file:///srv/backup DB01@20261201T010203Z /etc/fstab > fstab
  vmlua files get file:///srv/backup DB01 /home/alice | tar -tvf -
  vmlua files get --to sftp://backup@nas/restored file:///srv/backup DB01 2:/var/lib/app

Flags:`,
		footer: "Exit status: 0 copied, 1 failed (a damaged span, TARGET unreadable, the upload failed), " + opFooter + ".",
	}
}

func (v *filesGetVerb) Flags(f *flag.FlagSet) {
	v.o.register(f, true, false)
	cacheFlag(f, &v.cacheMiB)
	f.StringVar(&v.to, "to", "", "upload to this URL (a folder) instead of stdout; granted for this command")
	f.StringVar(&v.toCreds, "to-credentials", "", "named credentials from the config file for --to")
	f.StringVar(&v.name, "name", "", "the name to upload as with --to (default: the file's name, or the folder's with .tar)")
	f.BoolVar(&v.asTar, "tar", false, "a file as a tar archive too (a folder always is one)")
}

func (v *filesGetVerb) Run(inv *call, pos []string) int {
	a, ok := parseFilesArgs(pos, true)
	if !ok {
		return inv.usageError()
	}
	if v.o.json && v.to == "" {
		fmt.Fprintln(inv.stderr, "vmlua files get: --json needs --to (without it, stdout carries the file)")
		return exitUsage
	}
	if v.to != "" {
		v.o.also = []string{v.to}
	}
	res := map[string]any{}
	x, h, code := v.o.startTarget(inv, a.target, res)
	if x == nil {
		return code
	}
	defer x.close()
	ctx := x.r.Context()
	var dest *modtransport.Handle
	if v.to != "" {
		var err error
		if dest, err = modtransport.Open(x.r, v.to, v.toCreds, nil); err != nil {
			return x.fail(err, res)
		}
		res["to"] = dest.URL
	}
	p, err := pointfiles.Open(ctx, h.T, a.vm, a.point, v.cacheMiB<<20)
	if err != nil {
		return x.fail(err, res)
	}
	defer p.Close()
	res["set"] = p.Catalog.ID
	vol, gp, err := resolveGuestPath(p, a, res)
	if err != nil {
		return x.fail(err, res)
	}
	name, src, isTar, err := pointfiles.Stream(ctx, vol, gp, v.asTar)
	if err != nil {
		return x.fail(p.NotFound(err, a.path), res)
	}
	defer src.Close()
	if v.name != "" {
		name = v.name
	}
	var n int64
	if dest != nil {
		up, err := transports.Upload(ctx, dest.T, name, src, transports.UploadOptions{})
		if err != nil {
			return x.fail(p.NotFound(err, a.path), res)
		}
		n = up.Bytes
		res["name"], res["sha256"] = name, up.SHA256
	} else {
		if n, err = io.Copy(x.stdout, src); err != nil {
			return x.fail(p.NotFound(err, a.path), res)
		}
	}
	res["bytes"], res["tar"] = n, isTar
	if dest != nil && !v.o.json {
		fmt.Fprintf(x.stdout, "copied %s %s of %s to %s/%s (%d bytes)\n", res["disk"], oneline.Escape(a.path), p.Catalog.ID, dest.URL, oneline.Escape(name), n)
	}
	x.result(exitOK, nil, res)
	return exitOK
}
