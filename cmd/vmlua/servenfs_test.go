package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/nfsserve"
	"github.com/vmlua/vmlua/internal/vsim"
)

var nfsURL = regexp.MustCompile(`nfs://(127\.0\.0\.1:\d+)(/\S+)`)

// TestServeNFSExportsThePointAndKeepsTheSetUnchanged: serve nfs exports
// the VM's folder of an incremental point: the .vmx names the disk's
// descriptor, the descriptor its flat image, the flat image reads as the
// disk was at the point; a client's writes read back, land in the
// scratch folder, and the set still verifies.
func TestServeNFSExportsThePointAndKeepsTheSetUnchanged(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 4 << 20})
	e.Backup(t, "VM1", "incremental")
	id, seq := e.Backup(t, "VM1", "incremental")
	want := e.Expected(t, "VM1", "scsi0:0", seq)
	scratch := t.TempDir()
	p := startVerb(t, nfsURL, "serve", "nfs", "--listen", "127.0.0.1:0", "--scratch", scratch, "file://"+e.Dir, "VM1")
	m := nfsURL.FindStringSubmatch(p.out.String())
	v, closeMount, err := nfsserve.Dial(m[1], m[2])
	if err != nil {
		t.Fatal(err)
	}
	defer closeMount()
	read := func(name string) []byte {
		f, err := v.Open("VM1/" + name)
		if err != nil {
			t.Fatalf("open VM1/%s: %v", name, err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cat := catalogOf(t, e.Dir, id)
	desc := cat.Disks[0].Descriptor
	if vmx := string(read("VM1.vmx")); !strings.Contains(vmx, `scsi0:0.fileName = "`+desc+`"`) {
		t.Fatalf("the .vmx:\n%s", vmx)
	}
	flat := strings.TrimSuffix(desc, ".vmdk") + "-flat.vmdk"
	if d := string(read(desc)); !strings.Contains(d, `"`+flat+`"`) {
		t.Fatalf("the descriptor:\n%s", d)
	}
	if !bytes.Equal(read(flat), want) {
		t.Fatal("the flat disk does not read as the disk was at the point")
	}
	f, err := v.OpenFile("VM1/"+flat, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Seek(100000, io.SeekStart)
	f.Write([]byte("written by the recovered VM"))
	f.Close()
	if got := read(flat); !bytes.Equal(got[100000:100027], []byte("written by the recovered VM")) {
		t.Fatal("the write does not read back")
	}
	if left, _ := filepath.Glob(filepath.Join(scratch, ".vmlua-overlay", "VM1", "*")); len(left) == 0 {
		t.Fatal("the scratch folder holds no copy-on-write data")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil || !strings.Contains(p.out.String(), "stopped serving") {
		t.Fatalf("after SIGTERM: %v\n%s\n%s", err, p.out, p.errb)
	}
	if out, errs, code := vmlua(t, "verify", "file://"+e.Dir, "VM1"); code != 0 {
		t.Fatalf("the set does not verify after serving: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(scratch); err != nil {
		t.Fatalf("the named scratch folder is gone: %v", err)
	}
}

func TestServeNFSRefusesAnOpenAddressWithoutAllowedClients(t *testing.T) {
	var out, errb bytes.Buffer
	code := dispatch([]string{"serve", "nfs", "--listen", "0.0.0.0:0", "file:///nonexistent", "DB01"}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "--allow-client") {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
}
