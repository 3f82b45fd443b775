package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	p                           pointFlags
	listen, cert, key, clientCA string
}

func (*serveNBDVerb) About() about {
	return about{
		name:    "nbd",
		summary: "export a restore point's disks read-only over NBD",
		usage: `Usage: vmlua serve nbd [FLAGS] TARGET VM[@POINT]

Exports the disks of a restore point on TARGET read-only over the NBD protocol: the VM's newest
complete set, or the set of POINT (its timestamp as vmlua sets list shows it, e.g.
20261203T135450Z; VM/POINT, a set id, works too). A full or any incremental: the chain is applied
on the fly, nothing is written anywhere, and every byte read is checked against the catalog span by
span; a damaged span is an I/O error for the client (and a line in the log naming its offset),
never wrong bytes. Each disk is an export named by its id (nbd://127.0.0.1:10809/scsi0:1; the
empty name when the point has one disk). Zero areas show in block status (nbdinfo --map) and as
holes. It reads every stored byte of the chain once to index it, in the background: a read
waits only for the part it needs. It prints the exports' URLs, then serves until SIGINT or
SIGTERM.

  qemu-img convert -O raw nbd://127.0.0.1:10809/scsi0:0 disk.raw
  nbdcopy nbd://127.0.0.1:10809/scsi0:0 disk.raw
  nbd-client 127.0.0.1 10809 /dev/nbd0 -N scsi0:0 -readonly; mount -o ro /dev/nbd0p1 /mnt

It listens on loopback unless --listen says otherwise; another address needs --tls-cert and
--tls-key (clients then connect with nbds://), and --tls-client-ca admits only clients with a
certificate it signed. TARGET is granted for this command.

Flags:`,
		footer: "Exit status: 0 stopped by SIGINT/SIGTERM, 1 the server failed (TARGET unreadable, the address taken), " + pointFooter + ".",
	}
}

func (v *serveNBDVerb) Flags(fs *flag.FlagSet) {
	v.p.register(fs)
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
	ctx, stop := signalContext(inv.stderr)
	defer stop()
	pt, err := v.p.open(ctx, inv.stderr, pos[0])
	if err != nil {
		return reportErr(inv.stderr, err)
	}
	defer pt.close()
	vmName, point := splitPointArg(pos[1])
	cat, err := pointread.Resolve(ctx, pt.h.T, vmName, point)
	if err != nil {
		return pointStatus(inv.stderr, err)
	}
	cache := pointread.NewCache(v.p.cacheMiB << 20)
	var exports []nbd.Export
	var disks []*pointread.Disk
	defer func() {
		for _, d := range disks {
			d.Close()
		}
	}()
	for _, cd := range cat.Disks {
		d, err := pointread.Open(ctx, pt.h.T, cat, cd.ID, pointread.Options{Cache: cache})
		if err != nil {
			return reportErr(inv.stderr, err)
		}
		disks = append(disks, d)
		go func() { // the index runs on while the disk is served
			st, err := d.Wait(ctx)
			if err != nil {
				return
			}
			pt.r.Log.Info("serve: disk indexed", "set", cat.ID, "disk", cd.ID, "layers", st.Layers, "stored_bytes", st.StoredBytes, "took", st.Took.Round(time.Millisecond).String())
			if dmg := d.Damage(); dmg != "" {
				pt.r.Log.Warn("serve: the disk is damaged: reads of what depends on the damage fail with an I/O error", "set", cat.ID, "disk", cd.ID, "damage", dmg)
			}
		}()
		exports = append(exports, nbd.Export{Name: cd.ID, Description: fmt.Sprintf("%s %s (%s)", cat.ID, cd.ID, cd.Path), Size: d.Size(), Data: d, Map: nbdMap(d)})
	}
	l, err := net.Listen("tcp", v.listen)
	if err != nil {
		return reportErr(inv.stderr, fmt.Errorf("--listen %s: %w", v.listen, err))
	}
	scheme := "nbd"
	if tc != nil {
		scheme = "nbds"
	}
	fmt.Fprintf(inv.stdout, "serving %s read-only (%d disk(s)); SIGINT or SIGTERM stops it\n", cat.ID, len(exports))
	for i, e := range exports {
		fmt.Fprintf(inv.stdout, "  %s://%s/%s\t%s, %s\n", scheme, l.Addr(), e.Name, cat.Disks[i].Path, progress.Size(e.Size))
	}
	srv := &nbd.Server{Exports: exports, TLS: tc, Log: pt.r.Log}
	if err := srv.Serve(ctx, l); err != nil && !errors.Is(err, context.Canceled) {
		return reportErr(inv.stderr, err)
	}
	fmt.Fprintf(inv.stdout, "stopped serving %s\n", cat.ID)
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
