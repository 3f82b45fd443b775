package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/vmlua/vmlua/internal/cli/progress"
	"github.com/vmlua/vmlua/internal/nbd"
	"github.com/vmlua/vmlua/modules/backup/sets/pointread"
)

func init() { register(func() verb { return &serveVerb{} }) }

// serveVerb is vmlua serve: servers of restore points.
type serveVerb struct{ noFlags }

func (*serveVerb) About() about {
	return about{
		name:    "serve",
		summary: "serve a restore point's disks read-only (vmlua serve nbd TARGET VM[@POINT])",
		usage:   "Usage: vmlua serve nbd [FLAGS] TARGET VM[@POINT]\n\nServes a restore point's disks read-only. 'vmlua serve nbd --help' for the flags.",
		subs:    []verb{&serveNBDVerb{}},
	}
}

func (*serveVerb) Run(inv *call, _ []string) int { return inv.usageError() }

// serveNBDVerb is vmlua serve nbd.
type serveNBDVerb struct {
	o                           opFlags
	cacheMiB                    int64
	listen, cert, key, clientCA string
}

func (*serveNBDVerb) About() about {
	return about{
		name:    "nbd",
		summary: "export a restore point's disks read-only over NBD",
		usage: `Usage: vmlua serve nbd [FLAGS] TARGET VM[@POINT]

Exports the disks of a restore point on TARGET read-only over the NBD protocol: the VM's newest
complete set, or the set of POINT (its timestamp as vmlua sets list shows it, e.g.
20261203T135450Z, or latest). A full or any incremental: the chain is applied
on the fly, nothing is written anywhere, and every byte read is checked against the catalog span by
span; a damaged span is an I/O error for the client (and a line in the log naming its offset),
never wrong bytes. Each disk is an export named by its id (nbd://127.0.0.1:10809/scsi0:1; the
empty name when the point has one disk). Zero areas show in block status (nbdinfo --map) and as
holes. It reads every stored byte of the chain once to index it, in the background: a read
waits only for the part it needs. It prints the exports' URLs, then serves until SIGINT or
SIGTERM, or --timeout (12 h by default: a forgotten server ends). With --json it prints one JSON
object when it starts serving (the exports) and one when it ends (the exit status).

  qemu-img convert -O raw nbd://127.0.0.1:10809/scsi0:0 disk.raw
  nbdcopy nbd://127.0.0.1:10809/scsi0:0 disk.raw
  nbd-client 127.0.0.1 10809 /dev/nbd0 -N scsi0:0 -readonly; mount -o ro /dev/nbd0p1 /mnt

It listens on loopback unless --listen says otherwise; another address needs --tls-cert and
--tls-key (clients then connect with nbds://), and --tls-client-ca admits only clients with a
certificate it signed. TARGET is granted for this command.

Flags:`,
		footer: "Exit status: 0 stopped by SIGINT/SIGTERM, 1 the server failed (TARGET unreadable, the address taken), " + opFooter + " (4: it served until --timeout).",
	}
}

// cacheFlag declares --cache of the verbs that read restore points.
func cacheFlag(fs *flag.FlagSet, mib *int64) {
	fs.Int64Var(mib, "cache", 64, "MiB of memory for verified spans and decoded frames, shared by every disk")
}

func (v *serveNBDVerb) Flags(fs *flag.FlagSet) {
	v.o.register(fs, true, false)
	cacheFlag(fs, &v.cacheMiB)
	fs.StringVar(&v.listen, "listen", "127.0.0.1:10809", "address to serve on (a port of 0 picks a free one)")
	fs.StringVar(&v.cert, "tls-cert", "", "TLS certificate (PEM) of the server: clients must then speak TLS (required off loopback)")
	fs.StringVar(&v.key, "tls-key", "", "the TLS certificate's private key (PEM)")
	fs.StringVar(&v.clientCA, "tls-client-ca", "", "CA certificates (PEM): admit only clients with a certificate they signed")
}

// loopback reports whether a listen address reaches this machine only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig builds the server's TLS from the flags (nil without them).
func (v *serveNBDVerb) tlsConfig() (*tls.Config, error) {
	if v.cert == "" && v.key == "" && v.clientCA == "" {
		if !loopback(v.listen) {
			return nil, fmt.Errorf("--listen %s is not a loopback address: whoever reaches it could read the disks; give --tls-cert and --tls-key (and --tls-client-ca to admit only your clients), or listen on 127.0.0.1", v.listen)
		}
		return nil, nil
	}
	if v.cert == "" || v.key == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(v.cert, v.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if v.clientCA != "" {
		pem, err := os.ReadFile(v.clientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca %s holds no PEM certificate", v.clientCA)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

func (v *serveNBDVerb) Run(inv *call, pos []string) int {
	if len(pos) != 2 {
		return inv.usageError()
	}
	tc, err := v.tlsConfig()
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua serve nbd: %v\n", err)
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
	cache := pointread.NewCache(v.cacheMiB << 20)
	var exports []nbd.Export
	for _, cd := range cat.Disks {
		d, err := pointread.Open(ctx, h.T, cat, cd.ID, pointread.Options{Cache: cache})
		if err != nil {
			return x.fail(err, res)
		}
		defer d.Close()
		go func() { // the index runs on while the disk is served
			st, err := d.Wait(ctx)
			if err != nil {
				return
			}
			log.Info("serve: disk indexed", "set", cat.ID, "disk", cd.ID, "layers", st.Layers, "stored_bytes", st.StoredBytes, "took", st.Took.Round(time.Millisecond).String())
			if dmg := d.Damage(); dmg != "" {
				log.Warn("serve: the disk is damaged: reads of what depends on the damage fail with an I/O error", "set", cat.ID, "disk", cd.ID, "damage", dmg)
			}
		}()
		exports = append(exports, nbd.Export{Name: cd.ID, Description: fmt.Sprintf("%s %s (%s)", cat.ID, cd.ID, cd.Path), Size: d.Size(), Data: d, Map: nbdMap(d)})
	}
	l, err := net.Listen("tcp", v.listen)
	if err != nil {
		return x.fail(fmt.Errorf("--listen %s: %w", v.listen, err), res)
	}
	scheme := "nbd"
	if tc != nil {
		scheme = "nbds"
	}
	var list []map[string]any
	for i, e := range exports {
		list = append(list, map[string]any{"name": e.Name, "url": fmt.Sprintf("%s://%s/%s", scheme, l.Addr(), e.Name), "path": cat.Disks[i].Path, "size": e.Size})
	}
	res["exports"] = list
	if v.o.json {
		b, _ := json.Marshal(map[string]any{"set": cat.ID, "exports": list})
		fmt.Fprintf(x.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(x.stdout, "serving %s read-only (%d disk(s)); SIGINT or SIGTERM stops it\n", cat.ID, len(exports))
		for _, e := range list {
			fmt.Fprintf(x.stdout, "  %s\t%s, %s\n", e["url"], e["path"], progress.Size(e["size"].(int64)))
		}
	}
	srv := &nbd.Server{Exports: exports, TLS: tc, Log: log}
	if err := srv.Serve(ctx, l); err != nil {
		return x.fail(err, res)
	}
	if ctx.Err() == context.DeadlineExceeded {
		return x.fail(fmt.Errorf("served %s until --timeout", cat.ID), res)
	}
	if !v.o.json {
		fmt.Fprintf(x.stdout, "stopped serving %s\n", cat.ID)
	}
	x.result(exitOK, nil, res)
	return exitOK
}

// nbdMap adapts a Disk's map to the NBD server's.
func nbdMap(d *pointread.Disk) func(off, n int64) ([]nbd.Extent, error) {
	return func(off, n int64) ([]nbd.Extent, error) {
		ext, err := d.Map(off, n)
		out := make([]nbd.Extent, len(ext))
		for i, e := range ext {
			out[i] = nbd.Extent{Offset: e.Offset, Len: e.Len, Zero: e.Zero}
		}
		return out, err
	}
}
