// Command bench is vmlua's performance harness (issue 9). It measures, in
// one run, every figure of docs/performance.md as a ratio against a
// baseline run beside it, and writes that file with the machine it ran on.
//
//	go run ./bench            # the full run (about 25 minutes on 2 cores)
//	go run ./bench --short    # every figure, small sizes (CI; < 3 minutes)
//
// Before the figures (not with --short) it writes once to most of the free
// memory (--warm): on a virtual machine that backs its memory lazily, the
// first write to a page costs several times the next, and would be paid by
// whichever side of a ratio first grows the page cache.
//
// The harness runs the real binaries: it builds vmlua (and govc, from the
// nested module bench/govc) into a work folder, starts `vmlua sim` as its
// own process (figure 14's fleet runs the simulator in the harness, to
// read its /folder counters), times `vmlua run` processes and the
// reference tools beside them, reads peak memory and CPU time from the
// children's rusage, and runs the
// packages' own Go benchmarks (`go test -bench ... -benchtime Nx`) for the
// figures they already measure, parsing their ReportMetric output.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	var c config
	flag.BoolVar(&c.short, "short", false, "small sizes and fewer VMs: every figure computed, times meaningless (CI)")
	flag.StringVar(&c.out, "out", "", "report to write (default: docs/performance.md in the repository; with --short, bench-short.md in the work folder)")
	flag.StringVar(&c.work, "work", "", "work folder (default: a new temporary folder, removed at the end)")
	flag.StringVar(&c.only, "only", "", "run only these figure groups, by number, comma-separated (e.g. 1,2,11; 3 runs 3-4); the report then holds only them")
	flag.IntVar(&c.warm, "warm", 20, "GiB of memory to write once before the figures, at most the available memory less 2 GiB (0: none; --short: none)")
	warmOnly := flag.Int("warm-only", 0, "write once to this many GiB of memory and exit (the child process --warm starts)")
	flag.Parse()
	if *warmOnly > 0 {
		touchMemory(*warmOnly)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	defer cancel()
	rep, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", rep.path)
	missing := 0
	for _, f := range rep.figures {
		if f.Err != "" {
			missing++
		}
	}
	if missing > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d figure(s) could not be measured\n", missing)
		os.Exit(1)
	}
}

type config struct {
	short     bool
	out, work string
	only      string
	warm      int // GiB
}

// run does the whole harness and writes the report.
func run(ctx context.Context, c config) (*report, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if c.work == "" {
		if c.work, err = os.MkdirTemp("", "vmlua-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(c.work)
	}
	if c.out == "" {
		c.out = filepath.Join(root, "docs", "performance.md")
		if c.short {
			c.out = filepath.Join(c.work, "bench-short.md")
		}
	}
	h := &harness{root: root, work: c.work, short: c.short, started: time.Now()}
	if err := h.build(ctx); err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		fn   func(context.Context) []figure
	}{
		{"1 export vs cp and govc", h.fig1},
		{"2 transports vs reference clients", h.fig2},
		{"3-4 backup: zstd, sparse disk", h.fig34},
		{"5 fleet with --per-host", h.fig5},
		{"6 1,000 tiny VMs", h.fig6},
		{"7 question latency", h.fig7},
		{"8 start-up and sandbox", h.fig8},
		{"9 peak memory of a big export", h.fig9},
		{"10 incremental backups", h.fig10},
		{"11 the pipeline on one core and on two", h.fig11},
		{"12 NBD read of a restore point", h.fig12},
		{"13 mount to a guest file of a restore point", h.fig13},
		{"14 the data path under the throttled simulator", h.fig14},
		{"15 CPU per GiB of the vmlua process", h.fig15},
		{"16 encryption at rest beside zstd", h.fig16},
	}
	if c.only != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(c.only, ",") {
			want[strings.TrimSpace(n)] = true
		}
		kept := steps[:0]
		for _, s := range steps {
			num, _, _ := strings.Cut(s.name, " ")
			first, _, _ := strings.Cut(num, "-")
			if want[num] || want[first] {
				kept = append(kept, s)
			}
		}
		steps = kept
	}
	rep := &report{path: c.out, machine: machineInfo(ctx), short: c.short}
	if !c.short {
		h.logf("warming memory (--warm %d)", c.warm)
		if w := warmMemory(ctx, c.warm); w != "" {
			h.logf("   %s", w)
			rep.machine = append(rep.machine, w)
		}
	}
	for _, s := range steps {
		t0 := time.Now()
		h.logf("== %s", s.name)
		figs := s.fn(ctx)
		for _, f := range figs {
			h.logf("   %s %s: %s | baseline %s | ratio %s | %s %s", f.ID, f.What, f.Value, f.Baseline, f.ratioText(), f.status(), f.Err)
		}
		h.logf("   (%s)", time.Since(t0).Round(time.Second))
		rep.figures = append(rep.figures, figs...)
	}
	rep.took = time.Since(h.started)
	limits, _ := os.ReadFile(filepath.Join(root, "bench", "limits.md"))
	rep.limits = string(limits)
	if err := rep.write(); err != nil {
		return nil, err
	}
	return rep, nil
}

type harness struct {
	root, work  string
	short       bool
	started     time.Time
	vmlua, govc string
	govcNote    string
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(h.started).Seconds(), fmt.Sprintf(format, args...))
}

// pick returns full, or short in --short mode.
func pick[T any](h *harness, full, short T) T {
	if h.short {
		return short
	}
	return full
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the harness inside the vmlua repository (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}

// build compiles vmlua and govc into the work folder.
func (h *harness) build(ctx context.Context) error {
	h.vmlua = filepath.Join(h.work, "bin", "vmlua")
	h.logf("building vmlua")
	if out, err := h.cmd(ctx, h.root, nil, "go", "build", "-o", h.vmlua, "./cmd/vmlua").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/vmlua: %v\n%s", err, out)
	}
	// govc: govmomi v0.56.0's module holds govc's commands (cli/...) but
	// not its main; bench/govc is that main, a nested module so that its
	// extra dependencies stay out of vmlua's go.mod.
	h.govc = filepath.Join(h.work, "bin", "govc")
	h.logf("building govc (bench/govc, govmomi v0.56.0 cli)")
	if out, err := h.cmd(ctx, filepath.Join(h.root, "bench", "govc"), nil, "go", "build", "-o", h.govc, ".").CombinedOutput(); err != nil {
		h.govc = ""
		h.govcNote = fmt.Sprintf("govc could not be built (%v: %s); the govc baseline is govmomi's object.Datastore.DownloadFile", err, firstLine(string(out)))
		h.logf("%s", h.govcNote)
	}
	return nil
}

func (h *harness) cmd(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	c.WaitDelay = 10 * time.Second
	return c
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
