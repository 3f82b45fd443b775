package nfsserve_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	nfsc "github.com/willscott/go-nfs-client/nfs"

	"github.com/vmlua/vmlua/internal/nfsserve"
)

// serve serves an overlay of a VM folder on loopback and mounts it with
// go-nfs-client.
func serve(t *testing.T, files []nfsserve.File) (*nfsserve.Overlay, *nfsc.Target, string) {
	t.Helper()
	scratch := t.TempDir()
	o, err := nfsserve.NewOverlay("VM1", files, scratch)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nfsserve.Serve(ctx, l, o, "/VM1-point", nil, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { cancel(); <-done; o.Close() })
	v, closeMount, err := nfsserve.Dial(l.Addr().String(), "/VM1-point")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeMount)
	if _, _, err := nfsserve.Dial(l.Addr().String(), "/other"); err == nil || !strings.Contains(err.Error(), "NOENT") {
		t.Fatalf("a mount of another path: %v", err)
	}
	return o, v, scratch
}

func readAll(t *testing.T, v *nfsc.Target, p string) []byte {
	t.Helper()
	f, err := v.Open(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return b
}

// TestWritesGoToTheScratchFolderNeverIntoTheSet: a client reads the
// point's files as they are, writes into a disk (unaligned, across
// blocks) and a small file, creates and removes files: it reads back what
// it wrote, the set's bytes are unchanged, and the changes are in the
// scratch folder.
func TestWritesGoToTheScratchFolderNeverIntoTheSet(t *testing.T) {
	disk := make([]byte, 3*nfsserve.Block+4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range disk {
		disk[i] = byte(r.Uint32())
	}
	orig := bytes.Clone(disk)
	vmx := []byte("displayName = \"VM1\"\nscsi0:0.fileName = \"VM1.vmdk\"\n")
	o, v, scratch := serve(t, []nfsserve.File{{Name: "VM1.vmx", Data: vmx}, {Name: "VM1-flat.vmdk", Disk: bytes.NewReader(disk), Size: int64(len(disk))}})

	es, err := v.ReadDirPlus("VM1")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if e.FileName != "." && e.FileName != ".." {
			names = append(names, e.FileName)
		}
	}
	sort.Strings(names) // NFS promises no order (go-nfs's listing cache reorders now and then: it failed once in CI)
	if strings.Join(names, ",") != "VM1-flat.vmdk,VM1.vmx" {
		t.Fatalf("the folder lists %v", names)
	}
	if got := readAll(t, v, "VM1/VM1.vmx"); !bytes.Equal(got, vmx) {
		t.Fatalf("the .vmx reads %q", got)
	}
	if got := readAll(t, v, "VM1/VM1-flat.vmdk"); !bytes.Equal(got, disk) {
		t.Fatal("the disk does not read as the set holds it")
	}

	// a write across the first block's end, unaligned
	f, err := v.OpenFile("VM1/VM1-flat.vmdk", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := bytes.Repeat([]byte("guest!"), 3000)
	at := int64(nfsserve.Block - 1000)
	if _, err := f.Seek(at, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(w); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := bytes.Clone(orig)
	copy(want[at:], w)
	if got := readAll(t, v, "VM1/VM1-flat.vmdk"); !bytes.Equal(got, want) {
		t.Fatal("the disk does not read back what was written over the set's bytes")
	}
	if !bytes.Equal(disk, orig) {
		t.Fatal("the set's bytes changed")
	}
	if n := o.WrittenBlocks()["VM1-flat.vmdk"]; n != 2 {
		t.Fatalf("%d blocks written, want 2", n)
	}

	// a small file changed, a file created, one removed
	g, err := v.OpenFile("VM1/VM1.vmx", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	g.Seek(0, io.SeekStart)
	g.Write([]byte("DISPLAYNAME"))
	g.Close()
	if got := readAll(t, v, "VM1/VM1.vmx"); !bytes.HasPrefix(got, []byte("DISPLAYNAME = \"VM1\"")) {
		t.Fatalf("the .vmx reads %q after the write", got)
	}
	if b, _ := os.ReadFile(filepath.Join(scratch, "VM1", "VM1.vmx")); !bytes.HasPrefix(b, []byte("DISPLAYNAME")) {
		t.Fatalf("the scratch folder's .vmx is %q", b)
	}
	if _, err := v.Create("VM1/vmware.log", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := v.Remove("VM1/VM1.vmx"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Lookup("VM1/VM1.vmx"); err == nil {
		t.Fatal("a removed file is still there")
	}
	if _, err := os.Stat(filepath.Join(scratch, "VM1", "vmware.log")); err != nil {
		t.Fatalf("the created file is not in the scratch folder: %v", err)
	}
}

// TestMountOffersAUTHSYS: ESXi mounts with AUTH_SYS, so the MOUNT reply's
// list of flavours names it (first, as knfsd does for sec=sys), not only
// go-nfs's AUTH_NULL.
func TestMountOffersAUTHSYS(t *testing.T) {
	o, err := nfsserve.NewOverlay("VM1", nil, t.TempDir())
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
	go func() { done <- nfsserve.Serve(ctx, l, o, "/VM1-point", nil, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// MOUNT v3 MNT "/VM1-point" with AUTH_UNIX credentials (uid 0), as ESXi
	path := "/VM1-point"
	w := []uint32{7, 0, 2, 100005, 3, 1, 1, 24, 0, 4, 0x65737869, 0, 0, 0, 0, 0, uint32(len(path))}
	msg := make([]byte, 0, 128)
	for _, v := range w {
		msg = binary.BigEndian.AppendUint32(msg, v)
	}
	msg = append(msg, path...)
	msg = append(msg, make([]byte, (4-len(path)%4)%4)...)
	c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(msg))|0x80000000))
	c.Write(msg)
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatal(err)
	}
	r := make([]byte, binary.BigEndian.Uint32(h[:])&0x7fffffff)
	if _, err := io.ReadFull(c, r); err != nil {
		t.Fatal(err)
	}
	u := func() uint32 { v := binary.BigEndian.Uint32(r); r = r[4:]; return v }
	xid, reply, accepted := u(), u(), u()
	u() // verifier flavour
	vl := u()
	r = r[(vl+3)&^3:]
	if xid != 7 || reply != 1 || accepted != 0 || u() != 0 {
		t.Fatalf("the MNT call was not accepted")
	}
	if st := u(); st != 0 {
		t.Fatalf("MNT status %d", st)
	}
	fl := u()
	r = r[(fl+3)&^3:]
	var flavours []uint32
	for n := u(); n > 0; n-- {
		flavours = append(flavours, u())
	}
	if len(flavours) == 0 || flavours[0] != 1 {
		t.Fatalf("MOUNT offers flavours %v, want AUTH_SYS (1) first", flavours)
	}
}
