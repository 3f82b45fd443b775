package vsim

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmlua/vmlua/internal/nfsserve"
)

// TestANASMountStopsTheKernelsFlushes: the simulator serves NAS mounts in
// the process whose guests hold their files open; a FLUSH sent when such
// a process exits would wait forever for the server it was (a zombie go
// test waits for: CI hung on it). The mount answers the probe's FLUSH
// with ENOSYS, and the kernel sends none again: any number of later
// closes make no FLUSH.
func TestANASMountStopsTheKernelsFlushes(t *testing.T) {
	o, err := nfsserve.NewOverlay("VM1", []nfsserve.File{{Name: "VM1.vmx", Data: []byte("config.version = \"8\"\n")}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nfsserve.Serve(ctx, l, o, "/x", nil, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()
	tgt, closeNFS, err := nfsserve.Dial(l.Addr().String(), "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer closeNFS()
	dir := t.TempDir()
	before := nasFlushes.Load()
	srv, err := mountNAS(dir, tgt)
	if err != nil {
		t.Fatalf("mount (FUSE is needed: .ci/install-deps installs fuse3): %v", err)
	}
	defer unmountNASDir(srv, dir)
	if got := nasFlushes.Load() - before; got != 1 {
		t.Fatalf("mounting made %d FLUSH requests, want the probe's 1", got)
	}
	for i := 0; i < 3; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "VM1", "VM1.vmx"))
		if err != nil || len(b) == 0 {
			t.Fatalf("read through the mount: %q %v", b, err)
		}
		f, err := os.OpenFile(filepath.Join(dir, "VM1", "new.log"), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("x"))
		f.Close()
	}
	if got := nasFlushes.Load() - before; got != 1 {
		t.Fatalf("%d FLUSH requests after six closes, want the probe's 1 only: the kernel still flushes, and a process exiting with a file open on its own mount hangs", got)
	}
}
