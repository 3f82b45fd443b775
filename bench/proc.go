package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sim is a `vmlua sim` child process.
type sim struct {
	cmd   *exec.Cmd
	url   string
	dsDir string
}

// startSim starts `vmlua sim` with args and a datastore folder under the
// work folder, and waits (bounded) for its URL.
func (h *harness) startSim(ctx context.Context, name string, args ...string) (*sim, error) {
	ds := filepath.Join(h.work, name+"-ds")
	if err := os.MkdirAll(ds, 0o755); err != nil {
		return nil, err
	}
	args = append([]string{"sim", "--write-rate", "0", "--datastore-dir", ds}, args...)
	c := exec.Command(h.vmlua, args...)
	c.Dir = h.work
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	s := &sim{cmd: c, dsDir: ds}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			urlc <- sc.Text()
		}
		close(urlc)
		for sc.Scan() { // drain
		}
	}()
	select {
	case u, ok := <-urlc:
		if !ok {
			s.stop()
			return nil, fmt.Errorf("vmlua sim %v exited: %s", args, stderr.String())
		}
		s.url = u
		return s, nil
	case <-time.After(5 * time.Minute):
	case <-ctx.Done():
	}
	s.stop()
	return nil, fmt.Errorf("vmlua sim %v: no URL within 5 minutes", args)
}

// stop ends the simulator this harness started (by its PID) and removes
// its datastores.
func (s *sim) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(s.dsDir)
}

// cpu is the simulator's user + system CPU time so far, from
// /proc/PID/stat (clock ticks of 10 ms); 0 when it cannot be read.
func (s *sim) cpu() time.Duration {
	if s.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// the fields after the command name (which is in parentheses):
	// utime and stime are the 12th and 13th
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// proc is what one child process did.
type proc struct {
	wall           time.Duration
	cpu            time.Duration // user + system
	maxRSS         int64         // bytes
	stdout, stderr string
}

// runProc runs a command and returns its wall time and peak RSS.
func (h *harness) runProc(ctx context.Context, env []string, name string, args ...string) (proc, error) {
	c := h.cmd(ctx, h.work, env, name, args...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	t0 := time.Now()
	err := c.Run()
	p := proc{wall: time.Since(t0), stdout: o.String(), stderr: e.String()}
	if c.ProcessState != nil {
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.maxRSS = ru.Maxrss * 1024 // KiB on Linux
			p.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return p, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, tail(e.String(), 400))
	}
	return p, nil
}

// vmluaRun runs `vmlua run` against a simulator.
func (h *harness) vmluaRun(ctx context.Context, s *sim, flags []string, script string, args ...string) (proc, error) {
	return h.runVMLua(ctx, s.url, flags, script, args...)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// writeScript writes a Lua script into the work folder.
func (h *harness) writeScript(name, src string) string {
	p := filepath.Join(h.work, name)
	os.WriteFile(p, []byte(src), 0o644)
	return p
}

// benchResult is one line of `go test -bench` output: its metrics by unit.
type benchResult map[string]float64

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// goBench runs packages' Go benchmarks (one package at a time, -p 1, so
// they do not compete) and returns results by "pkg-dir/BenchmarkName/sub".
func (h *harness) goBench(ctx context.Context, env []string, benchRe, benchtime string, pkgs ...string) (map[string]benchResult, string, error) {
	args := append([]string{"test", "-p", "1", "-count", "1", "-run", "^$", "-bench", benchRe, "-benchtime", benchtime, "-timeout", "60m"}, pkgs...)
	c := h.cmd(ctx, h.root, env, "go", args...)
	out, err := c.CombinedOutput()
	res := map[string]benchResult{}
	pkg := ""
	for _, l := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), "github.com/vmlua/vmlua/")
			continue
		}
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		r := benchResult{}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				r[f[i+1]] = v
			}
		}
		res[pkg+"/"+m[1]] = r
	}
	if err != nil {
		return res, string(out), fmt.Errorf("go test -bench %s %v: %v: %s", benchRe, pkgs, err, tail(string(out), 600))
	}
	return res, string(out), nil
}

// get returns a metric or an error naming what is missing.
func get(res map[string]benchResult, name, unit string) (float64, error) {
	r, ok := res[name]
	if !ok {
		var have []string
		for k := range res {
			have = append(have, k)
		}
		sort.Strings(have)
		return 0, fmt.Errorf("benchmark %s did not run (have %v)", name, have)
	}
	v, ok := r[unit]
	if !ok {
		return 0, fmt.Errorf("benchmark %s reported no %q", name, unit)
	}
	return v, nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func mibps(bytes int64, d time.Duration) float64 {
	return float64(bytes) / (1 << 20) / d.Seconds()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func sizeText(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

func sizeFlag(n int64) string { return strconv.FormatInt(n>>20, 10) + "M" }
