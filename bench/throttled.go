package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
)

// backupScript is a full backup of the VM vm= names, zstd, every disk.
const backupScript = `require("script").args{ vm = { each = true }, to = {} }
require("vm").open(arg.vm):backup{ to = arg.to, compress = "zstd" }
`

// fig14: the data path under the throttled simulator (its defaults, as
// `vmlua sim` starts it; docs/simulator.md): a full backup of one disk
// against govc datastore.download of its flat file, the same backup
// forced through vCenter, and a fleet of 20 VMs on 2 hosts (fig14Fleet).
func (h *harness) fig14(ctx context.Context) []figure {
	size := pick[int64](h, 4<<30, 32<<20)
	wa := fmt.Sprintf("full backup (zstd) of a %s disk under the throttled simulator vs govc datastore.download of its flat file", sizeText(size))
	wb := fmt.Sprintf("full backup (zstd) of a %s disk: to the host directly vs forced through vCenter", sizeText(size))
	fail := func(err error) []figure {
		return append([]figure{failed("14a", wa, err), failed("14b", wb, err)}, h.fig14Fleet(ctx)...)
	}
	s, err := h.startSim(ctx, "f14", "--vms", "1", "--disk-size", sizeFlag(size))
	if err != nil {
		return fail(err)
	}
	defer s.stop()
	// govc reads the flat file, which the simulator (as ESXi) locks while
	// the VM runs: every side backs up the same powered-off VM
	if err := powerOff(ctx, s.url, "VM1"); err != nil {
		return fail(err)
	}
	out := filepath.Join(h.work, "f14-out")
	fresh := func() { os.RemoveAll(out); os.MkdirAll(out, 0o755) }
	defer os.RemoveAll(out)
	script := h.writeScript("backup.lua", backupScript)
	// through_vcenter = true: the profile setting that sends every byte
	// through vCenter (internal/dsread Config.ThroughVCenter); the URL and
	// the credentials come from --url as for the direct run
	viaVC := filepath.Join(h.work, "through-vcenter.toml")
	if err := os.WriteFile(viaVC, []byte("[vsphere.sim]\nthrough_vcenter = true\n"), 0o600); err != nil {
		return fail(err)
	}
	fresh()
	t0 := time.Now()
	if _, err := h.govcDownload(ctx, s, "VM1/VM1-flat.vmdk", filepath.Join(out, "govc.bin")); err != nil {
		return fail(fmt.Errorf("govc: %w", err))
	}
	tGovc := time.Since(t0)
	fresh()
	direct, err := h.vmluaRun(ctx, s, []string{"--allow", "file://" + out + "/"}, script, "vm=name:VM1", "to=file://"+out)
	if err != nil {
		return fail(err)
	}
	fresh()
	vc, err := h.vmluaRun(ctx, s, []string{"--config", viaVC, "--allow", "file://" + out + "/"}, script, "vm=name:VM1", "to=file://"+out)
	if err != nil {
		return fail(fmt.Errorf("through vCenter: %w", err))
	}
	rate := func(d time.Duration) string { return fmt.Sprintf("%.0f MiB/s", mibps(size, d)) }
	limits := fmt.Sprintf("the simulator's defaults: %s per connection to a host, %s per host, %d requests per host at once (more get 503), %s per connection through vCenter's proxy",
		rateText(vsim.DefaultHostRate), rateText(vsim.DefaultHostTotalRate), vsim.DefaultHostConns, rateText(vsim.DefaultVCenterRate))
	govcNote := "govc: govmomi v0.56.0's own datastore.download command (bench/govc): one connection, through vCenter as govc goes without GOVMOMI_USE_SERVICE_TICKET (object.Datastore.ServiceTicket)"
	if h.govcNote != "" {
		govcNote = h.govcNote
	}
	ra := tGovc.Seconds() / direct.wall.Seconds()
	rb := vc.wall.Seconds() / direct.wall.Seconds()
	figs := []figure{
		{ID: "14a", What: wa, Value: rate(direct.wall), Baseline: rate(tGovc) + " (govc)", Ratio: ra,
			RatioMeaning: "govc datastore.download time / vmlua backup time (vmlua: a whole `vmlua run` process: log-in, snapshot, reads from the VM's host with a service ticket each, 4 in flight, sparse stream, zstd, span digests, fsync, catalog, snapshot removed)",
			Goal:         "≥ 3×", Met: met(ra >= 3),
			Note: limits + "; " + govcNote + "; the VM powered off (govc cannot read a running VM's disk); one round of each"},
		{ID: "14b", What: wb, Value: rate(direct.wall) + " (direct)", Baseline: rate(vc.wall) + " (through vCenter)", Ratio: rb,
			RatioMeaning: "backup time through vCenter / backup time to the host directly (same script, same simulator, one after the other)",
			Note:         "forced through vCenter by the profile's `through_vcenter = true`; " + limits},
	}
	return append(figs, h.fig14Fleet(ctx)...)
}

// fig14Fleet: 20 VMs on 2 hosts backed up (hot-backup export) with
// --each --per-host 4, against the two hosts' configured total rate. The
// simulator runs in this process, so that its /folder counters
// (vsim.FolderStats) say how many requests each host answered 503.
func (h *harness) fig14Fleet(ctx context.Context) []figure {
	const n = 20
	size := pick[int64](h, 256<<20, 8<<20)
	wc := fmt.Sprintf("fleet: %d VMs × %s on 2 hosts, hot-backup export, --each --jobs 8 --per-host 4: aggregate rate vs the 2 hosts' configured total", n, sizeText(size))
	wd := fmt.Sprintf("fleet: %d VMs on 2 hosts: failed disks and 503s (host above its concurrent requests) left unretried", n)
	fail := func(err error) []figure { return []figure{failed("14c", wc, err), failed("14d", wd, err)} }
	hosts := []string{"DC0_C0_H0", "DC0_C0_H1"}
	var inv []vsim.VMSpec
	for i := 1; i <= n; i++ {
		inv = append(inv, vsim.VMSpec{Name: fmt.Sprintf("VM%d", i), Host: hosts[i%2]})
	}
	ds := filepath.Join(h.work, "f14c-ds")
	defer os.RemoveAll(ds)
	s, err := vsim.Start(ctx, vsim.Options{Inventory: inv, DiskSize: size, DatastoreDir: ds, WriteRate: -1})
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	for i := 1; i <= n; i++ {
		if got, err := s.HostOf(fmt.Sprintf("VM%d", i)); err != nil || got != hosts[i%2] {
			return fail(fmt.Errorf("VM%d is on %q (%v), want %s", i, got, err, hosts[i%2]))
		}
	}
	out := filepath.Join(h.work, "f14c-out")
	os.RemoveAll(out)
	os.MkdirAll(out, 0o755)
	defer os.RemoveAll(out)
	script := h.writeScript("export.lua", exportScript)
	before := map[string]vsim.FolderStats{}
	for _, hn := range append(hosts, vsim.VCenter) {
		before[hn] = s.FolderStats(hn)
	}
	c0 := cpuTime() // the simulator's: the harness is idle while vmlua runs
	p, err := h.runVMLua(ctx, s.URL.String(), []string{"--allow", "file://" + out + "/", "--each", "name:VM*", "--jobs", "8", "--per-host", "4"}, script, "to=file://"+out)
	simCPU := cpuTime() - c0
	fe, took, _, perr := parseFleet(p)
	if err != nil && perr != nil {
		return fail(err)
	}
	var served, requests, throttled int64
	per := ""
	for _, hn := range hosts {
		st, b := s.FolderStats(hn), before[hn]
		served += st.BytesOut - b.BytesOut
		requests += st.Requests - b.Requests
		throttled += st.Throttled - b.Throttled
		per += fmt.Sprintf("%s: %d requests, %d answered 503, %s served; ", hn, st.Requests-b.Requests, st.Throttled-b.Throttled, mib(st.BytesOut-b.BytesOut))
	}
	vc := s.FolderStats(vsim.VCenter)
	per += fmt.Sprintf("vCenter's proxy: %d requests", vc.Requests-before[vsim.VCenter].Requests)
	total := 2 * float64(vsim.DefaultHostTotalRate)
	agg := float64(served) / p.wall.Seconds()
	ok := len(took)
	failedVMs := n - ok
	if perr == nil {
		failedVMs = max(failedVMs, fe.Failed)
	}
	short := served < n*size // a byte of some disk was never served
	// the most any client could move on these cores: vmlua's and the
	// simulator's CPU of this run spread over every core, none idle
	cores := runtime.NumCPU()
	bound := "CPU not measured"
	if cpu := p.cpu + simCPU; cpu > 0 && served > 0 {
		least := cpu / time.Duration(cores)
		bound = fmt.Sprintf("bound by CPU in this run: vmlua spent %s and the simulator (TLS, pacing, the disks) %s of CPU, %s per GiB served; spread over %d cores that takes %.1f s at least: %.0f MiB/s, %.2f× of the hosts' total, at most",
			p.cpu.Round(time.Millisecond), simCPU.Round(time.Millisecond), perGiB(cpu, served), cores, least.Seconds(), float64(served)/(1<<20)/least.Seconds(), float64(served)/least.Seconds()/total)
	}
	c := figure{ID: "14c", What: wc, Value: fmt.Sprintf("%.0f MiB/s", agg/(1<<20)), Baseline: fmt.Sprintf("%.0f MiB/s (2 × %s)", total/(1<<20), rateText(vsim.DefaultHostTotalRate)),
		Ratio: agg / total, RatioMeaning: "bytes the two hosts served / wall time of the whole `vmlua run --each` process (start-up, log-in and planning included), over the two hosts' configured total",
		Goal: "≥ 0.8×", Met: met(agg/total >= 0.8),
		Note: fmt.Sprintf("the simulator in the harness's process (its counters read directly), its defaults; VMs alternate between %s and %s; %s in %.1f s; the fleet's session keeps 4 requests in flight per host; %s", hosts[0], hosts[1], mib(served), p.wall.Seconds(), bound)}
	d := figure{ID: "14d", What: wd, Value: fmt.Sprintf("%d failed, %d of %d VMs ok", failedVMs, ok, n),
		Baseline: fmt.Sprintf("%d of %d requests answered 503", throttled, requests), Goal: "0 failed, every 503 retried",
		Met:  met(err == nil && failedVMs == 0 && !short),
		Note: fmt.Sprintf("a 503 left unretried fails its disk; every disk's bytes were served at least once: %v (%s of %s); %s", !short, mib(served), mib(n*size), per)}
	if err != nil {
		d.Note += "; the run failed: " + tail(err.Error(), 300)
	}
	return []figure{c, d}
}

// runVMLua runs `vmlua run` against the simulator at rawURL.
func (h *harness) runVMLua(ctx context.Context, rawURL string, flags []string, script string, args ...string) (proc, error) {
	a := []string{"run", "--url", rawURL, "--insecure", "--log-format", "json"}
	a = append(a, flags...)
	a = append(a, script)
	a = append(a, args...)
	return h.runProc(ctx, nil, h.vmlua, a...)
}

func rateText(bytesPerSecond int64) string {
	return strconv.FormatInt(bytesPerSecond>>20, 10) + " MiB/s"
}
