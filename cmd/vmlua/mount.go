package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmlua/vmlua/modules/backup/sets/pointfs"
)

func init() { register(func() verb { return &mountVerb{} }) }

// mountVerb is vmlua mount.
type mountVerb struct{ p pointFlags }

func (*mountVerb) About() about {
	return about{
		name:    "mount",
		summary: "mount restore points as a read-only file system of raw disk images (FUSE)",
		usage: `Usage: vmlua mount [FLAGS] TARGET [VM[@POINT]] DIR

Mounts the restore points on TARGET on the folder DIR, read-only, as restic mount does: a folder
per VM, in it a folder per complete set (its timestamp, as vmlua sets list shows it) and "latest",
in each every disk of that point as a raw image (DB01_1.img). A full or any incremental: the chain
is applied on the fly, nothing is written anywhere, and every byte read is checked against the
catalog span by span (a damaged span reads as EIO, and the log names its offset). VM shows that
VM's points only, VM@POINT (or the set id VM/POINT) that one point. The first open of an image
starts reading every stored byte of its chain once to index it, in the background: a read waits
only for the part it needs. Open the images with the usual tools:

  debugfs -R 'cat /etc/hostname' DIR/DB01/latest/DB01.img
  mount -o loop,ro,offset=$((2048*512)) DIR/DB01/latest/DB01.img /mnt   (a partition)
  guestfish --ro -a DIR/DB01/latest/DB01.img -i

It stays mounted until SIGINT or SIGTERM, then unmounts (a file still open in it keeps it mounted
until closed; a second signal leaves it to a lazy unmount). Needs FUSE (/dev/fuse and fusermount3,
Debian's fuse3). TARGET is granted for this command.

Flags:`,
		footer: "Exit status: 0 unmounted after SIGINT/SIGTERM, 1 the mount failed (no FUSE, DIR not an empty folder, TARGET unreadable), " + pointFooter + ".",
	}
}

func (v *mountVerb) Flags(fs *flag.FlagSet) { v.p.register(fs) }

func (v *mountVerb) Run(inv *call, pos []string) int {
	if len(pos) != 2 && len(pos) != 3 {
		return inv.usageError()
	}
	target, dir := pos[0], pos[len(pos)-1]
	var o pointfs.Options
	if len(pos) == 3 {
		o.VM, o.Point = splitPointArg(pos[1]) // no point: every point of the VM
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(inv.stderr, "vmlua mount: %s is not a folder: create an empty one to mount on\n", dir)
		return exitUsage
	}
	// signals: the first stops what runs and unmounts, a second leaves a
	// busy mount to a lazy unmount
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	first, again := make(chan os.Signal, 1), make(chan struct{}, 4)
	go func() {
		n := 0
		for s := range sig {
			if n++; n == 1 {
				first <- s
				cancel()
			} else {
				select {
				case again <- struct{}{}:
				default:
				}
			}
		}
	}()
	pt, err := v.p.open(ctx, inv.stderr, target)
	if err != nil {
		return reportErr(inv.stderr, err)
	}
	defer pt.close()
	o.CacheBytes, o.Log = v.p.cacheMiB<<20, pt.r.Log
	m, err := pointfs.MountTarget(ctx, pt.h.T, dir, o)
	if err != nil {
		return pointStatus(inv.stderr, err)
	}
	vms := map[string]bool{}
	for _, p := range m.Points {
		vms[p.VM.Name] = true
	}
	fmt.Fprintf(inv.stdout, "mounted %d point(s) of %d VM(s) from %s on %s, read-only; SIGINT or SIGTERM unmounts\n", len(m.Points), len(vms), pt.h.URL, dir)
	s := <-first
	fmt.Fprintf(inv.stdout, "received %v: unmounting %s\n", s, dir)
	for {
		err := m.Unmount()
		if err == nil {
			fmt.Fprintf(inv.stdout, "unmounted %s\n", dir)
			return exitOK
		}
		fmt.Fprintf(inv.stderr, "vmlua mount: %v; trying again every second, a second signal leaves it to a lazy unmount\n", err)
		select {
		case <-again:
			if out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput(); err != nil {
				fmt.Fprintf(inv.stderr, "vmlua mount: fusermount3 -u -z %s: %v %s\n", dir, err, out)
				return exitFailure
			}
			fmt.Fprintf(inv.stdout, "%s is detached; it goes away when its last file is closed\n", dir)
			return exitOK
		case <-time.After(time.Second):
		}
	}
}
