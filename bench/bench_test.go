package main

import (
	"bytes"
	"compress/flate"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wantFigures are the report's rows, one or more per figure of issues 9, 14, 24, 26 and 27.
var wantFigures = []string{"1a", "1b", "1c", "1d", "2a", "2b", "2c", "2d", "2e", "2f", "2g", "2h", "3", "4", "5a", "5b", "6a", "6b", "7a", "7b", "8a", "8b", "9", "10a", "10b", "10c", "11a", "11b", "12", "13", "14a", "14b", "14c", "14d", "15a", "15b", "16"}

// TestShortRunProducesEveryFigure runs the harness in --short mode (what CI
// runs to keep it working) and checks that every figure was measured and
// written with its machine; it asserts nothing about the times.
func TestShortRunProducesEveryFigure(t *testing.T) {
	// No budget of its own: a busy machine makes it slower, never wrong
	// (go test's -timeout is the bound).
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "performance.md")
	rep, err := run(ctx, config{short: true, out: out, work: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]figure{}
	for _, f := range rep.figures {
		got[f.ID] = f
	}
	for _, id := range wantFigures {
		f, ok := got[id]
		switch {
		case !ok:
			t.Errorf("figure %s is missing", id)
		case f.Err != "":
			t.Errorf("figure %s (%s) was not measured: %s", id, f.What, f.Err)
		case f.Value == "" || f.Baseline == "":
			t.Errorf("figure %s (%s) has no value or no baseline: %+v", id, f.What, f)
		case f.Goal != "" && f.Met == nil:
			t.Errorf("figure %s (%s) has a goal but no met/missed", id, f.What)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, s := range []string{"nproc:", "memory:", "go: go version", "date:"} {
		if !strings.Contains(doc, s) {
			t.Errorf("the report does not name the machine's %q", s)
		}
	}
	for _, id := range wantFigures {
		if !strings.Contains(doc, "\n| "+id+" | ") {
			t.Errorf("the report has no row for figure %s", id)
		}
	}
}

// TestHashBound checks the bounds' arithmetic: 1 GiB at 1024 MiB/s per core
// is 1 s on one core, 0.5 s on two; against a 2 s baseline that is 2× and
// 4× at most.
func TestHashBound(t *testing.T) {
	b := hashBound{rate: 1024, cores: 2}
	for _, c := range []struct {
		cores int
		want  float64
	}{{1, 2}, {2, 4}} {
		if got := b.ratio(2*time.Second, 1<<30, c.cores); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("ratio on %d cores = %v, want %v", c.cores, got, c.want)
		}
	}
	if n := b.note(2*time.Second, 1<<30); !strings.Contains(n, "4.00× at most with span digests on 2 cores") || !strings.Contains(n, "2.00× with one whole-stream sha256") {
		t.Errorf("note = %q", n)
	}
	if r := sha256Rate(true); r <= 0 {
		t.Errorf("sha256Rate = %v", r)
	}
}

// TestWriteMixed checks figure 15's disk: the first half random bytes
// that deflate cannot shrink, the second half printable text it shrinks
// well, the file's size unchanged.
func TestWriteMixed(t *testing.T) {
	const size = 4 << 20
	p := filepath.Join(t.TempDir(), "flat")
	if err := os.WriteFile(p, make([]byte, size+4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeMixed(p, size, 1); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != size+4096 {
		t.Fatalf("file is %d bytes, want %d", len(b), size+4096)
	}
	deflated := func(p []byte) float64 {
		var out bytes.Buffer
		w, _ := flate.NewWriter(&out, flate.DefaultCompression)
		w.Write(p)
		w.Close()
		return float64(out.Len()) / float64(len(p))
	}
	if r := deflated(b[:size/2]); r < 0.99 {
		t.Errorf("the random half deflates to %.2f of its size", r)
	}
	if r := deflated(b[size/2 : size]); r > 0.5 {
		t.Errorf("the text half deflates to %.2f of its size, want at most 0.5", r)
	}
	for i, c := range b[size/2 : size] {
		if c != '\n' && (c < ' ' || c > '~') {
			t.Fatalf("byte %d of the text half is %#x", size/2+i, c)
		}
	}
	if !bytes.Equal(b[size:], make([]byte, 4096)) {
		t.Error("bytes past size were written")
	}
}

// TestRatioSpread checks the ratio of medians and the range of the
// per-round ratios figure 15 reports.
func TestRatioSpread(t *testing.T) {
	s := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Second)
		}
		return d
	}
	r := ratioSpread(s(2, 6, 3), s(2, 2, 4))
	if r.median != 1.5 || r.lo != 0.75 || r.hi != 3 {
		t.Errorf("ratioSpread = %+v, want median 1.5, lo 0.75, hi 3", r)
	}
	if got := perGiBSpread(s(2, 6, 3), 2<<30); got != "1.50 s/GiB (1.00–3.00)" {
		t.Errorf("perGiBSpread = %q", got)
	}
}
