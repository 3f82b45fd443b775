package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// figure is one row of the report.
type figure struct {
	ID, What        string
	Value, Baseline string  // as measured, with units
	Ratio           float64 // 0: not applicable
	RatioMeaning    string  // what the ratio divides
	Goal            string  // "" when the issue sets none
	Met             *bool
	Note            string
	Err             string // the figure could not be measured
}

func (f figure) ratioText() string {
	if f.Ratio == 0 {
		return "—"
	}
	return strconv.FormatFloat(f.Ratio, 'f', 2, 64) + "×"
}

func (f figure) status() string {
	switch {
	case f.Err != "":
		return "not measured"
	case f.Met == nil:
		return "—"
	case *f.Met:
		return "met"
	default:
		return "**missed**"
	}
}

func met(b bool) *bool { return &b }

func failed(id, what string, err error) figure {
	return figure{ID: id, What: what, Err: err.Error()}
}

type report struct {
	path    string
	short   bool
	machine []string
	figures []figure
	took    time.Duration
	limits  string
}

func machineInfo(ctx context.Context) []string {
	var m []string
	m = append(m, fmt.Sprintf("date: %s", time.Now().UTC().Format("2006-01-02 15:04 MST")))
	m = append(m, fmt.Sprintf("nproc: %d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m = append(m, fmt.Sprintf("memory: %.1f GiB", kb/(1<<20)))
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m = append(m, "cpu: "+strings.TrimSpace(v))
				break
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m = append(m, "go: "+strings.TrimSpace(string(out)))
	}
	if out, err := exec.CommandContext(ctx, "uname", "-srm").Output(); err == nil {
		m = append(m, "kernel: "+strings.TrimSpace(string(out)))
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m = append(m, "commit: "+strings.TrimSpace(string(out)))
	}
	return m
}

func (r *report) write() error {
	var b bytes.Buffer
	b.WriteString("# Performance\n\n")
	b.WriteString("Written by the benchmark harness (`go run ./bench`; `go run ./bench --short` is the\n")
	b.WriteString("small version CI runs to keep it working). Every figure is measured in one run\n")
	b.WriteString("against a baseline run beside it, on the same machine, in the same minute: compare\n")
	b.WriteString("the ratios, not absolute figures across runs (on 2 shared cores runs vary ±30–50%).\n\n")
	if r.short {
		b.WriteString("**This is a --short run: small sizes, the times mean nothing.**\n\n")
	}
	b.WriteString("## Machine\n\n")
	for _, m := range r.machine {
		b.WriteString("- " + m + "\n")
	}
	fmt.Fprintf(&b, "- harness run time: %s\n\n", r.took.Round(time.Second))
	b.WriteString("## Figures\n\n")
	b.WriteString("| # | figure | value | baseline | ratio | goal | |\n|---|---|---|---|---|---|---|\n")
	for _, f := range r.figures {
		if f.Err != "" {
			fmt.Fprintf(&b, "| %s | %s | not measured: %s | | | %s | not measured |\n", f.ID, f.What, cell(f.Err), f.Goal)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", f.ID, f.What, f.Value, f.Baseline, f.ratioText(), f.Goal, f.status())
	}
	b.WriteString("\n## How each figure is measured\n\n")
	for _, f := range r.figures {
		if f.RatioMeaning == "" && f.Note == "" {
			continue
		}
		fmt.Fprintf(&b, "- **%s** %s", f.ID, f.What)
		if f.RatioMeaning != "" {
			fmt.Fprintf(&b, " — ratio = %s", f.RatioMeaning)
		}
		if f.Note != "" {
			fmt.Fprintf(&b, ". %s", f.Note)
		}
		b.WriteString("\n")
	}
	if strings.TrimSpace(r.limits) != "" {
		b.WriteString("\n" + strings.TrimSpace(r.limits) + "\n")
	}
	return os.WriteFile(r.path, b.Bytes(), 0o644)
}

func cell(s string) string {
	s = strings.ReplaceAll(firstLine(s), "|", "\\|")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
