package main

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"syscall"
	"time"
)

// sha256Rate measures, in this process and this minute, how fast one core
// computes sha256: MiB per second of this process's CPU time (the harness
// is idle otherwise, so that is the hashing goroutine's).
func sha256Rate(short bool) float64 {
	n := 256 << 20
	if short {
		n = 32 << 20
	}
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i * 131)
	}
	h := sha256.New()
	c0 := cpuTime()
	for done := 0; done < n; done += len(block) {
		h.Write(block)
	}
	c := cpuTime() - c0
	if c <= 0 {
		c = time.Millisecond
	}
	return float64(n) / (1 << 20) / c.Seconds()
}

// cpuTime is this process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hashBound is the best ratio (baseline time / vmlua time) any program that
// sha256s every one of size bytes could reach against a baseline that took
// base: its hashing alone takes size/rate on one core, size/(rate·cores)
// spread over cores.
type hashBound struct {
	rate  float64 // sha256 MiB/s on one core, measured in this run
	cores int     // cores the hashing may use
}

func (h *harness) hashBound() hashBound {
	return hashBound{rate: sha256Rate(h.short), cores: runtime.NumCPU()}
}

// ratio is the bound with the hashing spread over n cores.
func (b hashBound) ratio(base time.Duration, size int64, n int) float64 {
	hashing := float64(size) / (1 << 20) / (b.rate * float64(n))
	return base.Seconds() / hashing
}

// note says both bounds: the parallel one (span digests on every core,
// what vmlua does) and the one a single whole-stream sha256 would set.
func (b hashBound) note(base time.Duration, size int64) string {
	return fmt.Sprintf("bound by hashing in this run: %.2f× at most with span digests on %d cores (sha256 %.0f MiB/s per core × %d), %.2f× with one whole-stream sha256 on one core",
		b.ratio(base, size, b.cores), b.cores, b.rate, b.cores, b.ratio(base, size, 1))
}

// cpuBound is the best ratio a program spending cpu of CPU time on the
// job could reach against a baseline, with every core busy all the time
// (the simulator, serving the disk, shares the machine's cores with the
// client: on one machine its CPU is part of the job's).
type cpuBound struct {
	cpu   time.Duration // measured in this run: client and simulator
	size  int64
	cores int
	what  string // where cpu was measured
}

// note says the bound against a baseline that took base.
func (b cpuBound) note(base time.Duration) string {
	if b.cpu <= 0 {
		return "CPU time not measured"
	}
	least := b.cpu / time.Duration(b.cores)
	return fmt.Sprintf("bound by CPU in this run: %s; spread over %d cores that takes %s at least, %.2f× this baseline at most", b.what, b.cores, least.Round(time.Millisecond), base.Seconds()/least.Seconds())
}

// perGiB renders CPU time d spent on size bytes as seconds per GiB.
func perGiB(d time.Duration, size int64) string {
	return fmt.Sprintf("%.2f s", d.Seconds()/(float64(size)/(1<<30)))
}
