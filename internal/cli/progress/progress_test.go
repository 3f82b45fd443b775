package progress

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestPlainLines(t *testing.T) {
	off := false
	clk := &fakeClock{t: time.Unix(0, 0)}
	var buf bytes.Buffer
	s := New(&buf, Options{Terminal: &off, Every: 10 * time.Second, Now: clk.now})
	tr := s.Start("DB01 scsi0:0", 32<<20)
	for i := 0; i < 32; i++ {
		clk.advance(time.Second)
		tr.Add(1 << 20)
	}
	tr.Done(nil)
	f := s.Start("DB01 scsi0:1", -1)
	clk.advance(2 * time.Second)
	f.Add(5 << 20)
	f.Done(errors.New("connection reset"))
	f.Done(nil) // a second Done is ignored
	want := []string{
		"DB01 scsi0:0: started (32.0 MiB)",
		"DB01 scsi0:0: 10.0 MiB of 32.0 MiB (31%), 1.0 MiB/s",
		"DB01 scsi0:0: 20.0 MiB of 32.0 MiB (62%), 1.0 MiB/s",
		"DB01 scsi0:0: 30.0 MiB of 32.0 MiB (93%), 1.0 MiB/s",
		"DB01 scsi0:0: done, 32.0 MiB in 32s (1.0 MiB/s)",
		"DB01 scsi0:1: started (size unknown)",
		"DB01 scsi0:1: failed after 5.0 MiB and 2s: connection reset",
	}
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestBarsOnATerminal: under a pseudo-terminal, bars are drawn (with the
// operation's name and its completion), not plain lines.
func TestBarsOnATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = io.Copy(&out, ptmx) }()
	s := New(tty, Options{})
	if !s.Terminal() {
		t.Fatal("a pty was not detected as a terminal")
	}
	a := s.Start("VM1 scsi0:0", 4<<20)
	b := s.Start("VM2 scsi0:0", 4<<20)
	for i := 0; i < 4; i++ {
		a.Add(1 << 20)
		b.Add(1 << 20)
	}
	a.Done(nil)
	b.Done(errors.New("boom"))
	s.Wait()
	tty.Close()
	wg.Wait()
	o := out.String()
	for _, want := range []string{"VM1 scsi0:0", "VM2 scsi0:0", "done", "failed", "4.0 MiB"} {
		if !strings.Contains(o, want) {
			t.Errorf("terminal output lacks %q: %q", want, o)
		}
	}
	if strings.Contains(o, "started (") {
		t.Errorf("plain lines on a terminal: %q", o)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1 << 30: "1.0 GiB", 5 << 40: "5.0 TiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
