package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fig15: CPU time per GiB of the vmlua process alone (the child's rusage;
// the simulator is a process of its own and not counted), against the
// reference tools' own CPU, measured round by round in the same run on a
// disk of mixed data: an export against govc datastore.download of the
// flat file, a zstd backup against the pipeline an admin would script
// (govc datastore.download, sha256sum, zstd -T0: their CPU summed).
func (h *harness) fig15(ctx context.Context) []figure {
	size := pick[int64](h, 1<<30, 32<<20)
	rounds := pick(h, 3, 2)
	wa := fmt.Sprintf("CPU per GiB of the vmlua process: export of a %s disk of mixed data vs govc datastore.download of its flat file", sizeText(size))
	wb := fmt.Sprintf("CPU per GiB of the vmlua process: zstd backup of a %s disk of mixed data vs govc datastore.download + sha256sum + zstd -T0", sizeText(size))
	fail := func(err error) []figure { return []figure{failed("15a", wa, err), failed("15b", wb, err)} }
	// unthrottled: what is measured is CPU, not the simulator's rate limits
	// (a paced stream arrives in smaller reads, on both sides alike)
	s, err := h.startSim(ctx, "f15", "--vms", "1", "--disk-size", sizeFlag(size), "--host-rate", "0", "--host-total-rate", "0", "--vcenter-rate", "0")
	if err != nil {
		return fail(err)
	}
	defer s.stop()
	if err := powerOff(ctx, s.url, "VM1"); err != nil {
		return fail(err)
	}
	flat := filepath.Join(s.dsDir, "LocalDS_0", "VM1", "VM1-flat.vmdk")
	if err := writeMixed(flat, size, 15); err != nil {
		return fail(err)
	}
	syscall.Sync() // no writeback of the disk just written while either side runs
	out := filepath.Join(h.work, "f15-out")
	fresh := func() { os.RemoveAll(out); os.MkdirAll(out, 0o755) }
	defer os.RemoveAll(out)
	export := h.writeScript("export.lua", exportScript)
	backup := h.writeScript("backup.lua", backupScript)
	var cGovc, cPipe, cExp, cBak, wGovc, wPipe, wExp, wBak []time.Duration
	baseline := func() error {
		fresh()
		dst := filepath.Join(out, "VM1-flat.vmdk")
		g, err := h.govcDownload(ctx, s, "VM1/VM1-flat.vmdk", dst)
		if err != nil {
			return fmt.Errorf("govc: %w", err)
		}
		sum, err := h.runProc(ctx, nil, "sha256sum", dst)
		if err != nil {
			return err
		}
		z, err := h.runProc(ctx, nil, "zstd", "-q", "-T0", dst, "-o", dst+".zst")
		if err != nil {
			return err
		}
		cGovc, wGovc = append(cGovc, g.cpu), append(wGovc, g.wall)
		cPipe, wPipe = append(cPipe, g.cpu+sum.cpu+z.cpu), append(wPipe, g.wall+sum.wall+z.wall)
		return nil
	}
	vmlua := func() error {
		fresh()
		e, err := h.vmluaRun(ctx, s, []string{"--allow", "file://" + out + "/"}, export, "vm=name:VM1", "to=file://"+out)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		fresh()
		b, err := h.vmluaRun(ctx, s, []string{"--allow", "file://" + out + "/"}, backup, "vm=name:VM1", "to=file://"+out)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		cExp, wExp = append(cExp, e.cpu), append(wExp, e.wall)
		cBak, wBak = append(cBak, b.cpu), append(wBak, b.wall)
		return nil
	}
	for i := range rounds {
		// interleaved, the first side alternating: a drift in the
		// machine's speed falls on both
		steps := []func() error{baseline, vmlua}
		if i%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return fail(err)
			}
		}
	}
	how := fmt.Sprintf("median of %d rounds (min–max in brackets), the sides interleaved, the first alternating; CPU = user + system time of the child process from its rusage (vmlua alone; the simulator, unthrottled, is a process of its own); the disk: half random bytes, half syslog-like text; the VM powered off (govc cannot read a running VM's disk)", rounds)
	govcNote := "govc: govmomi v0.56.0's datastore.download (bench/govc), one connection through vCenter, writing the file"
	if h.govcNote != "" {
		govcNote = h.govcNote
	}
	ra := ratioSpread(cExp, cGovc)
	rb := ratioSpread(cBak, cPipe)
	return []figure{
		{ID: "15a", What: wa, Value: perGiBSpread(cExp, size), Baseline: perGiBSpread(cGovc, size) + " (govc)", Ratio: ra.median,
			RatioMeaning: "vmlua export CPU / govc download CPU, medians (lower is better; govc hashes nothing, the export sha256s every byte once as span digests)",
			Goal:         "≤ 1.2×", Met: met(ra.median <= 1.2),
			Note: fmt.Sprintf("%s; ratio per round %s; wall time for reference (no goal): export %s, govc %s; %s; the export is the hot-backup cycle (add_redo, export, commit) to file://",
				how, ra, wallSpread(wExp, size), wallSpread(wGovc, size), govcNote)},
		{ID: "15b", What: wb, Value: perGiBSpread(cBak, size), Baseline: perGiBSpread(cPipe, size) + " (pipeline)", Ratio: rb.median,
			RatioMeaning: "vmlua zstd backup CPU / the pipeline's CPU (govc datastore.download to a file, then `sha256sum` and `zstd -q -T0` of it, their CPU summed), medians (lower is better)",
			Goal:         "≤ 1.0×", Met: met(rb.median <= 1.0),
			Note: fmt.Sprintf("%s; ratio per round %s; of the pipeline's CPU govc took %s; wall time for reference (no goal): backup %s, pipeline %s (its steps one after the other); the backup: snapshot, sparse stream, its content digest and the stored file's span digest, zstd, fsync, catalog",
				how, rb, perGiBSpread(cGovc, size), wallSpread(wBak, size), wallSpread(wPipe, size))},
	}
}

// perGiBSpread renders CPU times spent on size bytes each as seconds per
// GiB: the median, then min–max.
func perGiBSpread(d []time.Duration, size int64) string {
	lo, mid, hi := minMedMax(d)
	g := float64(size) / (1 << 30)
	return fmt.Sprintf("%.2f s/GiB (%.2f–%.2f)", mid.Seconds()/g, lo.Seconds()/g, hi.Seconds()/g)
}

// wallSpread renders wall times of moving size bytes as MiB/s: the
// median, then min–max.
func wallSpread(d []time.Duration, size int64) string {
	lo, mid, hi := minMedMax(d)
	return fmt.Sprintf("%.0f MiB/s (%.0f–%.0f)", mibps(size, mid), mibps(size, hi), mibps(size, lo))
}

func minMedMax(d []time.Duration) (lo, mid, hi time.Duration) {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[0], median(s), s[len(s)-1]
}

// spread is a ratio of medians and the range of the per-round ratios.
type spread struct{ median, lo, hi float64 }

func (s spread) String() string { return fmt.Sprintf("%.2f–%.2f×", s.lo, s.hi) }

// ratioSpread is median(a)/median(b), and the least and greatest of
// a[i]/b[i] (round i of each side).
func ratioSpread(a, b []time.Duration) spread {
	r := spread{median: median(a).Seconds() / median(b).Seconds()}
	for i := range min(len(a), len(b)) {
		x := a[i].Seconds() / b[i].Seconds()
		if i == 0 || x < r.lo {
			r.lo = x
		}
		if i == 0 || x > r.hi {
			r.hi = x
		}
	}
	return r
}

// writeMixed overwrites the first size bytes of the file at path with
// mixed data: the first half random bytes (what compression cannot
// shrink), the second half syslog-like text (what it can), from a seed.
func writeMixed(path string, size int64, seed uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	var key [32]byte
	copy(key[:], strconv.FormatUint(seed, 10))
	random := rand.NewChaCha8(key)
	text := rand.New(rand.NewPCG(seed, 1))
	buf := make([]byte, 1<<20)
	half := size / 2
	for off := int64(0); off < size; {
		end := size
		if off < half {
			end = half
		}
		b := buf[:min(int64(len(buf)), end-off)]
		if off < half {
			random.Read(b)
		} else {
			fillText(b, text)
		}
		if _, err := f.WriteAt(b, off); err != nil {
			f.Close()
			return err
		}
		off += int64(len(b))
	}
	return f.Close()
}

var logWords = strings.Fields(`vmkernel: hostd[2099]: cpu1:2097) ScsiDeviceIO: Cmd(0x45b8c1) failed H:0x0 D:0x2 P:0x0
	Valid sense data: 0x5 0x24 0x0 naa.600508b1001c4e0c vmw_ahci Vol3: world opened closed lock heartbeat datastore1
	snapshot VM1.vmx Task Created Completed vim.VirtualMachine.createSnapshot user=vpxuser info verbose warning
	NetPort: Disconnect vmnic0 link up down 1000 Mbps full duplex FSS: OpenFile ReadAt bytes session tickets`)

// fillText fills b with lines of log-like text (b's last line may be cut).
func fillText(b []byte, r *rand.Rand) {
	line := make([]byte, 0, 256)
	for i := 0; i < len(b); {
		line = line[:0]
		line = fmt.Appendf(line, "2026-12-%02dT%02d:%02d:%02d.%03dZ esx%02d ", 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), r.IntN(16))
		for range 4 + r.IntN(8) {
			line = append(line, logWords[r.IntN(len(logWords))]...)
			line = append(line, ' ')
		}
		line = strconv.AppendUint(line, r.Uint64N(1<<20), 16)
		line = append(line, '\n')
		i += copy(b[i:], line)
	}
}
