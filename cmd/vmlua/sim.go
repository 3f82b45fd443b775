package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
)

func init() { register(func() verb { return &simVerb{} }) }

// simVerb is vmlua sim.
type simVerb struct {
	listen, model, diskSize, dsDir string
	vms, maxRedo                   int
	rate                           float64
	// the hard parts (docs/simulator.md)
	hostRate, hostTotal, vcRate string
	hostConns                   int
	sessionIdle, nfcLease       time.Duration
	hostsDown                   bool
	dsCapacity                  string
	dsTypes                     string
	fleet                       bool
}

func (*simVerb) About() about {
	return about{
		name:    "sim",
		summary: "run the embedded vSphere simulator (vmlua sim ask: raise a VM question)",
		usage: `Usage: vmlua sim [--listen 127.0.0.1:PORT] [--model vpx|esx] [--vms N] [--disk-size SIZE] [--datastore-dir DIR]
                 [--host-rate RATE] [--host-total-rate RATE] [--host-conns N] [--vcenter-rate RATE]
                 [--session-idle DURATION] [--hosts-unreachable] [--datastore-capacity SIZE]
                 [--datastore-types VMFS5,VMFS6,NFS,vsan,VVOL] [--fleet=false] [--nfc-lease-timeout DURATION]
       vmlua sim ask [--url URL] VMNAME TEXT CHOICE [CHOICE...]

Runs a vSphere simulator that behaves like ESXi for hot backups until SIGINT/SIGTERM,
and is as hard as ESXi and vCenter where backup tools break (docs/simulator.md):
/folder needs a login, each host serves it at an address and with a certificate of
its own and throttles (503 above --host-conns), vCenter's /folder is a slower proxy
that fails now and then under load, idle sessions expire, a running VM's live disk
is locked, datastores fill up (a VM whose REDO log fills its datastore stops on
msg.hbacommon.outofspace) and a moved or copied VM's first power-on asks msg.uuid.altered.
Datastores are of the types --datastore-types lists (LocalDS_n on VMFS,
NFS_n, vsanDatastore, VVOL_n: vSAN and vVols disks are read only through NFC export
leases, which serve streamOptimized VMDK and time out after --nfc-lease-timeout without
progress); --fleet adds a VM on each datastore that is not VMFS and SNAP01, a powered-off
VM with a three-level snapshot tree. RATE is bytes per second (K, M, G suffixes; 0: unlimited).
Prints the SDK URL (with credentials) on the first line, the certificate thumbprint on
the second, then one line per host: "host NAME ADDRESS thumbprint THUMBPRINT".`,
		subs: []verb{&simAskVerb{}},
	}
}

func (v *simVerb) Flags(fs *flag.FlagSet) {
	fs.StringVar(&v.listen, "listen", "127.0.0.1:0", "address to serve on")
	fs.StringVar(&v.model, "model", "vpx", "vpx (vCenter) or esx (standalone host)")
	fs.IntVar(&v.vms, "vms", 2, "number of single-disk VMs next to the multi-disk VM DB01")
	fs.StringVar(&v.diskSize, "disk-size", "32M", "capacity of each disk (K, M, G suffixes)")
	fs.StringVar(&v.dsDir, "datastore-dir", "", "folder for the datastores' files (default: a temporary folder removed on exit)")
	fs.Float64Var(&v.rate, "write-rate", 20, "guest writes per second per powered-on VM (0: none)")
	fs.IntVar(&v.maxRedo, "max-redo", 0, "snapshots per VM before CreateSnapshot raises a question, as ESX 2 did (-1: none, as ESXi 8, which allows 32 levels; 0: 2, or none with --fleet)")
	fs.StringVar(&v.hostRate, "host-rate", "64M", "bytes per second of one connection to a host's /folder (0: unlimited)")
	fs.StringVar(&v.hostTotal, "host-total-rate", "256M", "bytes per second of all of a host's /folder connections (0: unlimited)")
	fs.IntVar(&v.hostConns, "host-conns", vsim.DefaultHostConns, "/folder requests a host serves at once; more get 503 (0: unlimited)")
	fs.StringVar(&v.vcRate, "vcenter-rate", "16M", "bytes per second of one connection through vCenter's /folder proxy (0: unlimited)")
	fs.DurationVar(&v.sessionIdle, "session-idle", vsim.DefaultSessionIdle, "a session without an API call for this long expires (0: never)")
	fs.BoolVar(&v.hostsDown, "hosts-unreachable", false, "close the hosts' own addresses: /folder only through vCenter")
	fs.StringVar(&v.dsCapacity, "datastore-capacity", "1T", "capacity of each datastore (K, M, G, T suffixes; 0: no limit): a VM whose disk's delta fills it stops on msg.hbacommon.outofspace")
	fs.DurationVar(&v.nfcLease, "nfc-lease-timeout", vsim.DefaultNFCLeaseTimeout, "an NFC export/import lease without HttpNfcLeaseProgress for this long times out (0: never)")
	fs.StringVar(&v.dsTypes, "datastore-types", strings.Join(vsim.DefaultDatastoreTypes, ","), "the datastores by type, comma-separated: VMFS5, VMFS6 (or VMFS), NFS, vsan, VVOL")
	fs.BoolVar(&v.fleet, "fleet", true, "add the VMs a real fleet has: one on each datastore that is not VMFS, and one with a snapshot tree of its own")
}

// options maps the flags to the simulator's options.
func (v *simVerb) options() (vsim.Options, error) {
	size, err := parseSize(v.diskSize)
	if err != nil {
		return vsim.Options{}, fmt.Errorf("--disk-size: %v", err)
	}
	if v.model != "vpx" && v.model != "esx" {
		return vsim.Options{}, fmt.Errorf("--model must be vpx or esx")
	}
	dsTypes, err := vsim.ParseDatastoreTypes(v.dsTypes)
	if err != nil {
		return vsim.Options{}, fmt.Errorf("--datastore-types: %v", err)
	}
	o := vsim.Options{
		DatastoreTypes: dsTypes, Fleet: v.fleet,
		Model: v.model, Listen: v.listen, VMs: v.vms, DiskSize: size, DatastoreDir: v.dsDir,
		WriteRate: simWriteRate(v.rate), MaxRedo: v.maxRedo,
		HostConns: unlimitedIfZero(v.hostConns), HostsUnreachable: v.hostsDown,
		SessionIdle: v.sessionIdle,
	}
	if v.sessionIdle <= 0 {
		o.SessionIdle = -1
	}
	if strings.TrimSpace(v.dsCapacity) == "0" {
		o.DatastoreCapacity = -1
	} else if o.DatastoreCapacity, err = parseSize(v.dsCapacity); err != nil {
		return vsim.Options{}, fmt.Errorf("--datastore-capacity: %v", err)
	}
	o.NFCLeaseTimeout = v.nfcLease
	if v.nfcLease <= 0 {
		o.NFCLeaseTimeout = -1
	}
	for _, r := range []struct {
		flag, val string
		to        *float64
	}{{"--host-rate", v.hostRate, &o.HostRate}, {"--host-total-rate", v.hostTotal, &o.HostTotalRate}, {"--vcenter-rate", v.vcRate, &o.VCenterRate}} {
		if *r.to, err = parseRate(r.val); err != nil {
			return vsim.Options{}, fmt.Errorf("%s: %v", r.flag, err)
		}
	}
	return o, nil
}

// parseRate reads a rate in bytes per second ("64M"); 0 is unlimited
// (vsim's -1).
func parseRate(s string) (float64, error) {
	if strings.TrimSpace(s) == "0" {
		return -1, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, fmt.Errorf("%v: give bytes per second, like 64M, or 0 for unlimited", err)
	}
	return float64(n), nil
}

func unlimitedIfZero(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func (v *simVerb) Run(inv *call, pos []string) int {
	if len(pos) != 0 {
		fmt.Fprintf(inv.stderr, "vmlua sim: unexpected arguments %q\n", pos)
		return exitUsage
	}
	opts, err := v.options()
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua sim: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := vsim.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua sim: %v\n", err)
		return exitFailure
	}
	defer s.Close()
	fmt.Fprintln(inv.stdout, s.URL.String())
	fmt.Fprintf(inv.stdout, "thumbprint %s\n", s.Thumbprint)
	for _, h := range s.Hosts() {
		addr, _ := s.HostAddress(h)
		tp, _ := s.HostThumbprint(h)
		fmt.Fprintf(inv.stdout, "host %s %s thumbprint %s\n", h, addr, tp)
	}
	if f, ok := inv.stdout.(*os.File); ok {
		f.Sync()
	}
	<-ctx.Done()
	return exitOK
}

// simAskVerb is vmlua sim ask.
type simAskVerb struct {
	rawURL   string
	insecure bool
}

func (*simAskVerb) About() about {
	return about{
		name:    "ask",
		summary: "raise a question on a VM of a running vmlua sim",
		usage:   "Usage: vmlua sim ask [--url URL] VMNAME TEXT CHOICE [CHOICE...]\n\nRaises a question on a VM of a running 'vmlua sim'; prints the question id. The URL is --url, else $VMLUA_URL (as for vmlua run).",
	}
}

func (v *simAskVerb) Flags(fs *flag.FlagSet) {
	fs.StringVar(&v.rawURL, "url", "", "the SDK URL 'vmlua sim' printed (with credentials); env VMLUA_URL")
	fs.BoolVar(&v.insecure, "insecure", true, "do not verify the simulator's certificate")
}

func (v *simAskVerb) Run(inv *call, pos []string) int {
	raw := v.rawURL
	if raw == "" {
		raw = os.Getenv("VMLUA_URL")
	}
	if raw == "" || len(pos) < 3 {
		return inv.usageError()
	}
	u, err := url.Parse(raw)
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua sim ask: --url: %v\n", err)
		return exitUsage
	}
	id, err := vsim.RemoteAsk(context.Background(), u, v.insecure, vsim.AskRequest{VM: pos[0], Text: pos[1], Choices: pos[2:]})
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua sim ask: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(inv.stdout, id)
	return exitOK
}

// simWriteRate maps --write-rate to vsim.Options.WriteRate, where 0 means
// the default (20) and a negative rate none: --write-rate 0 used to leave
// every VM writing 20 times a second, which with --vms 1000 kept a core of
// the benchmarks' 2-core machine busy in the simulator.
func simWriteRate(perSecond float64) float64 {
	if perSecond <= 0 {
		return -1
	}
	return perSecond
}

// parseSize parses "64M", "1G", "4096", "512K".
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s, "iB"), "B"))
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	case strings.HasSuffix(t, "T"):
		mult, t = 1<<40, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
