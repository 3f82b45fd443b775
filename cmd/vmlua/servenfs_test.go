package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// TestServeNFSAnswersThePortmapperAsAnESXiHostAsksIt: a real host mounts
// NFSv3 on port 2049 after asking the portmapper on port 111 where MOUNT
// listens. In a network namespace of its own (port 111 free, whatever
// rpcbind the NFS transport's tests run), serve nfs --portmap on answers
// libtirpc's rpcinfo: the dump lists MOUNT and NFS v3 on 2049, and a NULL
// call to MOUNT v3 and NFS v3, found through the portmapper, is answered
// by the export itself.
func TestServeNFSAnswersThePortmapperAsAnESXiHostAsksIt(t *testing.T) {
	rpcinfo := needTool(t, "rpcinfo", "rpcbind")
	unshare := needTool(t, "unshare", "util-linux")
	nsenter := needTool(t, "nsenter", "util-linux")
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20})
	e.Backup(t, "VM1", "full")
	args := []string{"serve", "nfs", "--listen", "127.0.0.1:2049", "--portmap", "on", "file://" + e.Dir, "VM1"}
	cmd := exec.Command(unshare, append([]string{"--net", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, simtest.Binary(t)}, args...)...)
	p := startCmd(t, nfsURL, cmd, args)
	in := func(args ...string) string {
		out, err := exec.Command(nsenter, append([]string{"-t", fmt.Sprint(p.cmd.Process.Pid), "-n", rpcinfo}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpcinfo %s: %v\n%s\nvmlua: %s", strings.Join(args, " "), err, out, p.errb)
		}
		return string(out)
	}
	dump := in("-p", "127.0.0.1")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`100000\s+2\s+tcp\s+111\s`),
		regexp.MustCompile(`100003\s+3\s+tcp\s+2049\s`),
		regexp.MustCompile(`100005\s+3\s+tcp\s+2049\s`),
	} {
		if !want.MatchString(dump) {
			t.Errorf("rpcinfo -p lists no %s:\n%s", want, dump)
		}
	}
	for _, prog := range []string{"100005", "100003"} {
		if out := in("-t", "127.0.0.1", prog, "3"); !strings.Contains(out, "ready and waiting") {
			t.Errorf("rpcinfo -t 127.0.0.1 %s 3: %s", prog, out)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s\n%s", err, p.out, p.errb)
	}
}
