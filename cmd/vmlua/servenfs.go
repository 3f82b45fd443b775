package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/nfsserve"
	"github.com/vmlua/vmlua/internal/portmap"
	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/backup/sets/pointread"
)

// serveNFSVerb is vmlua serve nfs: instant recovery.
type serveNFSVerb struct {
	o                      opFlags
	cacheMiB               int64
	listen, scratch, allow string
	portmap                string
}

func (*serveNFSVerb) About() about {
	return about{
		name:    "nfs",
		summary: "export a restore point as an NFSv3 datastore for instant recovery (writes to a scratch folder)",
		usage: `Usage: vmlua serve nfs [FLAGS] TARGET VM[@POINT]

Exports a restore point on TARGET as an NFSv3 datastore (NFS and MOUNT on one port): one folder,
the VM's, with its files as vmlua restore writes them (the .vmx with its paths rewritten, the
descriptors, the flat disks read from the set on the fly, the chain applied, every byte checked
against the catalog). A host mounts it (CreateNasDatastore), registers the VM from it and powers it
on at once; a storage migration (RelocateVM_Task) later moves it to production storage while it
runs. Nothing is written into the set: every write goes to the scratch folder (--scratch; a
temporary folder removed at the end without it), a flat disk copied on write by 64 KiB blocks. It
prints the export's URL, then serves until SIGINT or SIGTERM, or --timeout (12 h by default).
scripts/instant_recovery.lua runs the whole flow.

An ESXi host mounts NFSv3 on port 2049 and asks the portmapper on port 111 of the server where
MOUNT listens; --portmap (on by default off loopback) serves one, answering with the NFS port.

It listens on loopback unless --listen says otherwise; NFSv3 has no authentication, so another
address needs --allow-client (the hosts' addresses: only they are admitted). TARGET is granted for
this command.

Flags:`,
		footer: "Exit status: 0 stopped by SIGINT/SIGTERM, 1 the server failed (TARGET unreadable, the address taken), " + opFooter + " (4: it served until --timeout).",
	}
}

func (v *serveNFSVerb) Flags(f *flag.FlagSet) {
	v.o.register(f, true, false)
	cacheFlag(f, &v.cacheMiB)
	f.StringVar(&v.listen, "listen", "127.0.0.1:2049", "address to serve on (a port of 0 picks a free one)")
	f.StringVar(&v.scratch, "scratch", "", "the folder every write goes to (kept); default a temporary folder, removed at the end")
	f.StringVar(&v.allow, "allow-client", "", "comma-separated addresses of the hosts admitted (required off loopback)")
	f.StringVar(&v.portmap, "portmap", "auto", "serve a portmapper on port 111 of the --listen address, where an ESXi host asks for the MOUNT port: on, off, or auto (on unless --listen is loopback)")
}

// clientFilter admits the --allow-client addresses (nil: anyone, on
// loopback only).
func (v *serveNFSVerb) clientFilter() (func(net.Addr) bool, error) {
	if v.allow == "" {
		if !loopback(v.listen) {
			return nil, fmt.Errorf("--listen %s is not a loopback address and NFSv3 has no authentication: give --allow-client with the hosts' addresses", v.listen)
		}
		return nil, nil
	}
	ok := map[string]bool{}
	for _, a := range strings.Split(v.allow, ",") {
		ip := net.ParseIP(strings.TrimSpace(a))
		if ip == nil {
			return nil, fmt.Errorf("--allow-client %q is not an IP address", a)
		}
		ok[ip.String()] = true
	}
	return func(a net.Addr) bool {
		switch t := a.(type) {
		case *net.TCPAddr:
			return ok[t.IP.String()]
		case *net.UDPAddr: // the portmapper's UDP calls
			return ok[t.IP.String()]
		}
		return false
	}, nil
}

func (v *serveNFSVerb) Run(inv *call, pos []string) int {
	if len(pos) != 2 {
		return inv.usageError()
	}
	allow, err := v.clientFilter()
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua serve nfs: %v\n", err)
		return exitUsage
	}
	res := map[string]any{}
	x, h, code := v.o.startTarget(inv, pos[0], res)
	if x == nil {
		return code
	}
	defer x.close()
	ctx, log := x.r.Context(), x.r.Log
	vmName, point := splitPoint(pos[1])
	cat, err := pointread.Resolve(ctx, h.T, vmName, point)
	if err != nil {
		return x.fail(err, res)
	}
	res["set"] = cat.ID
	dir, pfs, err := backup.PointFiles(ctx, h.T, cat, cat.VM.Name)
	if err != nil {
		return x.fail(fmt.Errorf("%s: %w", cat.ID, err), res)
	}
	cache := pointread.NewCache(v.cacheMiB << 20)
	var files []nfsserve.File
	vmx := ""
	for _, f := range pfs {
		if f.Disk == "" {
			files = append(files, nfsserve.File{Name: f.Name, Data: f.Data})
			if strings.HasSuffix(f.Name, ".vmx") {
				vmx = f.Name
			}
			continue
		}
		d, err := pointread.Open(ctx, h.T, cat, f.Disk, pointread.Options{Cache: cache})
		if err != nil {
			return x.fail(err, res)
		}
		defer d.Close()
		files = append(files, nfsserve.File{Name: f.Name, Disk: d, Size: d.Size()})
	}
	scratch := v.scratch
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "vmlua-nfs-scratch-"); err != nil {
			return x.fail(err, res)
		}
		defer os.RemoveAll(scratch)
	}
	o, err := nfsserve.NewOverlay(dir, files, scratch)
	if err != nil {
		return x.fail(err, res)
	}
	defer o.Close()
	l, err := net.Listen("tcp", v.listen)
	if err != nil {
		return x.fail(fmt.Errorf("--listen %s: %w", v.listen, err), res)
	}
	export := "/vmlua-" + sets.DirName(cat.VM.Name) + "-" + strings.TrimPrefix(cat.ID, sets.DirName(cat.VM.Name)+"/")
	addr := l.Addr().(*net.TCPAddr)
	url := fmt.Sprintf("nfs://%s%s", addr, export)
	res["url"], res["host"], res["port"], res["export"], res["folder"], res["vmx"], res["scratch"] = url, addr.IP.String(), addr.Port, export, dir, dir+"/"+vmx, scratch
	pmDone, err := v.startPortmap(ctx, addr, allow, log, res)
	if err != nil {
		l.Close()
		return x.fail(err, res)
	}
	if v.o.json {
		b, _ := json.Marshal(res)
		fmt.Fprintf(x.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(x.stdout, "serving %s as an NFSv3 datastore, writes to %s; SIGINT or SIGTERM stops it\n  %s\t%s/%s\n", cat.ID, scratch, url, dir, vmx)
	}
	log.Info("serve nfs: serving", "set", cat.ID, "url", url, "scratch", scratch)
	t0 := time.Now()
	err = nfsserve.Serve(ctx, l, o, export, allow, log)
	pmDone()
	if err != nil {
		return x.fail(err, res)
	}
	written := o.WrittenBlocks()
	log.Info("serve nfs: stopped", "set", cat.ID, "served", time.Since(t0).Round(time.Second).String(), "written_blocks", fmt.Sprint(written))
	if ctx.Err() == context.DeadlineExceeded {
		return x.fail(fmt.Errorf("served %s until --timeout", cat.ID), res)
	}
	if !v.o.json {
		fmt.Fprintf(x.stdout, "stopped serving %s\n", cat.ID)
	}
	x.result(exitOK, nil, res)
	return exitOK
}

// startPortmap serves the portmapper (--portmap) on port 111 of the NFS
// address, TCP and UDP, until ctx ends: ESXi mounts an NFSv3 datastore on
// port 2049 and asks the portmapper for the MOUNT port (internal/portmap).
// With auto, a port 111 that cannot be had (rpcbind holds it, no root)
// is a warning; with on, an error. stop ends it and waits.
func (v *serveNFSVerb) startPortmap(ctx context.Context, nfs *net.TCPAddr, allow func(net.Addr) bool, log *slog.Logger, res map[string]any) (stop func(), err error) {
	mode := v.portmap
	switch mode {
	case "auto":
		mode = "on"
		if loopback(v.listen) {
			mode = "off"
		}
	case "on", "off":
	default:
		return nil, fmt.Errorf("--portmap %q: give on, off or auto", v.portmap)
	}
	if !loopback(v.listen) && nfs.Port != 2049 {
		log.Warn("serve nfs: ESXi mounts NFS datastores on port 2049 only; a host cannot mount this export", "port", nfs.Port)
	}
	if mode == "off" {
		res["portmap"] = "off"
		return func() {}, nil
	}
	at := net.JoinHostPort(nfs.IP.String(), strconv.Itoa(portmap.Port))
	tl, err := net.Listen("tcp", at)
	var ul net.PacketConn
	if err == nil {
		if ul, err = net.ListenPacket("udp", at); err != nil {
			tl.Close()
		}
	}
	if err != nil {
		why := fmt.Errorf("the portmapper cannot listen on %s (is rpcbind running, or is this not root?): %w; an ESXi host asks it for the MOUNT port and cannot mount the export without it", at, err)
		if v.portmap == "on" {
			return nil, fmt.Errorf("--portmap on: %w", why)
		}
		log.Warn("serve nfs: "+why.Error(), "hint", "stop the other portmapper, or give --portmap off if no ESXi host mounts this")
		res["portmap"] = "unavailable"
		return func() {}, nil
	}
	srv := portmap.New(portmap.NFS(nfs.Port), log)
	srv.Allow = allow
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(pctx, tl, ul); err != nil {
			log.Warn("serve nfs: the portmapper stopped", "err", err)
		}
	}()
	res["portmap"] = at
	log.Info("serve nfs: portmapper serving", "address", at, "mount_port", nfs.Port)
	return func() { cancel(); <-done }, nil
}
