package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vmlua/vmlua/modules/backup/sets/pointfs"
)

func init() { register(func() verb { return &mountVerb{} }) }

// mountVerb is vmlua mount.
type mountVerb struct {
	o        opFlags
	cacheMiB int64
}

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
VM's points only, VM@POINT (VM@latest: the newest) that one point. The first open of an image
starts reading every stored byte of its chain once to index it, in the background: a read waits
only for the part it needs. Open the images with the usual tools:

  debugfs -R 'cat /etc/hostname' DIR/DB01/latest/DB01.img
  mount -o loop,ro,offset=$((2048*512)) DIR/DB01/latest/DB01.img /mnt   (a partition)
  guestfish --ro -a DIR/DB01/latest/DB01.img -i

It stays mounted until SIGINT or SIGTERM, or --timeout (12 h by default: a forgotten mount
ends), then unmounts (a file still open in it keeps it mounted until closed; a second signal
leaves it to a lazy unmount). Needs FUSE (/dev/fuse and fusermount3, Debian's fuse3). TARGET is
granted for this command.

Flags:`,
		footer: "Exit status: 0 unmounted after SIGINT/SIGTERM, 1 the mount failed (no FUSE, DIR not an empty folder, TARGET unreadable), " + opFooter + " (4: unmounted at --timeout).",
	}
}

func (v *mountVerb) Flags(fs *flag.FlagSet) {
	v.o.register(fs, true, false)
	cacheFlag(fs, &v.cacheMiB)
}

func (v *mountVerb) Run(inv *call, pos []string) int {
	if len(pos) != 2 && len(pos) != 3 {
		return inv.usageError()
	}
	target, dir := pos[0], pos[len(pos)-1]
	var o pointfs.Options
	if len(pos) == 3 {
		o.VM = pos[1] // every point of the VM
		if strings.Contains(pos[1], "@") {
			o.VM, o.Point = splitPoint(pos[1])
		}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(inv.stderr, "vmlua mount: %s is not a folder: create an empty one to mount on\n", dir)
		return exitUsage
	}
	// the first signal (or --timeout) ends the run's context and unmounts;
	// a second leaves a busy mount to a lazy unmount
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	res := map[string]any{"dir": dir}
	x, h, code := v.o.startTarget(inv, target, res)
	if x == nil {
		return code
	}
	defer x.close()
	ctx := x.r.Context()
	o.CacheBytes, o.Log = v.cacheMiB<<20, x.r.Log
	m, err := pointfs.MountTarget(ctx, h.T, dir, o)
	if err != nil {
		return x.fail(err, res)
	}
	vms := map[string]bool{}
	var points []string
	for _, p := range m.Points {
		vms[p.VM.Name] = true
		points = append(points, p.ID)
	}
	res["points"] = points
	if v.o.json {
		b, _ := json.Marshal(map[string]any{"dir": dir, "points": points})
		fmt.Fprintf(x.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(x.stdout, "mounted %d point(s) of %d VM(s) from %s on %s, read-only; SIGINT or SIGTERM unmounts\n", len(m.Points), len(vms), h.URL, dir)
	}
	<-ctx.Done()
	select {
	case <-sig: // the signal that ended the run, if one did
	default:
	}
	if !v.o.json {
		fmt.Fprintf(x.stdout, "%v: unmounting %s\n", context.Cause(ctx), dir)
	}
	for {
		err := m.Unmount()
		if err == nil {
			if !v.o.json {
				fmt.Fprintf(x.stdout, "unmounted %s\n", dir)
			}
			if ctx.Err() == context.DeadlineExceeded {
				return x.fail(fmt.Errorf("unmounted %s at --timeout", dir), res)
			}
			x.result(exitOK, nil, res)
			return exitOK
		}
		fmt.Fprintf(x.stderr, "vmlua mount: %v; trying again every second, a second signal leaves it to a lazy unmount\n", err)
		select {
		case <-sig:
			if out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput(); err != nil {
				return x.fail(fmt.Errorf("fusermount3 -u -z %s: %v %s", dir, err, out), res)
			}
			fmt.Fprintf(x.stdout, "%s is detached; it goes away when its last file is closed\n", dir)
			x.result(exitOK, nil, res)
			return exitOK
		case <-time.After(time.Second):
		}
	}
}
