package testservers

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testservers: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Daemon is a server process started by a test.
type Daemon struct {
	Name string
	Cmd  *exec.Cmd
	Log  *bytes.Buffer // combined stdout+stderr, for failure messages

	mu   sync.Mutex
	done chan struct{}
}

// Start runs a daemon in the foreground of its own process group and
// registers its termination (by PID, SIGTERM then SIGKILL) with t.Cleanup.
// The binary must exist: a missing one fails the test with a hint about
// .ci/run.
func Start(t testing.TB, name string, argv ...string) *Daemon {
	t.Helper()
	bin := argv[0]
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("testservers: %s needs %s, which is not installed (.ci/run installs it: bash .ci/install-deps): %v", name, bin, err)
	}
	d := &Daemon{Name: name, Log: &bytes.Buffer{}, done: make(chan struct{})}
	d.Cmd = exec.Command(bin, argv[1:]...)
	d.Cmd.Stdout = &lockedWriter{d: d}
	d.Cmd.Stderr = &lockedWriter{d: d}
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Cmd.Start(); err != nil {
		t.Fatalf("testservers: start %s: %v", name, err)
	}
	go func() { _ = d.Cmd.Wait(); close(d.done) }()
	t.Cleanup(d.Stop)
	return d
}

type lockedWriter struct{ d *Daemon }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.Log.Write(p)
}

// Output returns what the daemon printed so far.
func (d *Daemon) Output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Log.String()
}

// Exited reports whether the process has ended.
func (d *Daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// Stop ends the daemon's process group (SIGTERM, then SIGKILL after 5 s)
// and waits for it. Safe to call twice.
func (d *Daemon) Stop() {
	if d.Exited() {
		return
	}
	pid := d.Cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-d.done
	}
}

// Kill ends the daemon at once with SIGKILL (for "server died mid-upload").
func (d *Daemon) Kill() {
	if d.Exited() {
		return
	}
	_ = syscall.Kill(-d.Cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
}

// WaitPort waits until something accepts TCP connections on 127.0.0.1:port,
// failing the test after timeout or when the daemon exits first.
func (d *Daemon) WaitPort(t testing.TB, port int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for time.Now().Before(deadline) {
		if d.Exited() {
			t.Fatalf("testservers: %s exited before listening on %s:\n%s", d.Name, addr, d.Output())
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testservers: %s not listening on %s after %v:\n%s", d.Name, addr, timeout, d.Output())
}

// Dir makes a world-traversable temporary directory for a server's state
// (daemons that drop privileges must be able to reach it).
func Dir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != "/" && p != "."; p = filepath.Dir(p) {
		_ = os.Chmod(p, 0o755)
	}
	return d
}
