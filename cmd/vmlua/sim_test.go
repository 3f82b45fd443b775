package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
)

// vmlua sim as a separate process, driven by a govmomi client.
func TestSimProcess(t *testing.T) {
	bin := simtest.Binary(t)
	dsDir := t.TempDir()
	cmd := exec.Command(bin, "sim", "--disk-size", "4M", "--vms", "1", "--datastore-dir", dsDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("no URL line; stderr: %s", stderr.String())
	}
	u, err := url.Parse(sc.Text())
	if err != nil || u.User == nil {
		t.Fatalf("first line %q is not an SDK URL with credentials", sc.Text())
	}
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "thumbprint ") {
		t.Fatalf("second line %q", sc.Text())
	}
	go func() { done <- cmd.Wait() }()

	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := find.NewFinder(c.Client).VirtualMachine(ctx, "DB01")
	if err != nil {
		t.Fatal(err)
	}
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"config.files"}, &m); err != nil {
		t.Fatal(err)
	}
	// --datastore-dir shows the files
	if _, err := os.Stat(filepath.Join(dsDir, "LocalDS_0", "DB01", "DB01-flat.vmdk")); err != nil {
		t.Fatal(err)
	}
	// vmlua sim ask raises a question the client sees
	var out, errb bytes.Buffer
	if rc := dispatch([]string{"sim", "ask", "--url", u.String(), "DB01", "Continue?", "Yes", "No"}, &out, &errb); rc != exitOK {
		t.Fatalf("sim ask: %d %s", rc, errb.String())
	}
	id := strings.TrimSpace(out.String())
	if err := vm.Properties(ctx, vm.Reference(), []string{"runtime.question"}, &m); err != nil {
		t.Fatal(err)
	}
	if m.Runtime.Question == nil || m.Runtime.Question.Id != id || len(m.Runtime.Question.Choice.ChoiceInfo) != 2 {
		t.Fatalf("runtime.question = %+v, want id %s", m.Runtime.Question, id)
	}
	if err := vm.Answer(ctx, id, "0"); err != nil {
		t.Fatal(err)
	}
	_ = property.DefaultCollector
	c.Logout(ctx)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("vmlua sim exited: %v; stderr: %s", err, stderr.String())
		}
	case <-eventually.Context(t).Done():
		t.Fatal("vmlua sim did not stop on SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dsDir, "LocalDS_0", "DB01", "DB01.vmx")); err != nil {
		t.Fatalf("datastore dir emptied: %v", err)
	}
}

// TestSimWriteRateZeroWritesNothing: `vmlua sim --write-rate 0` (as the
// benchmarks start it) leaves the disks alone; a rate writes.
func TestSimWriteRateZeroWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		rate   float64
		writes bool
	}{{0, false}, {200, true}} {
		dir := t.TempDir()
		s, err := vsim.Start(context.Background(), vsim.Options{VMs: 1, DiskSize: 1 << 20, DatastoreDir: dir, WriteRate: simWriteRate(tc.rate)})
		if err != nil {
			t.Fatal(err)
		}
		before := dirDigest(t, dir)
		time.Sleep(time.Second)
		after := dirDigest(t, dir)
		s.Close()
		if changed := before != after; changed != tc.writes {
			t.Errorf("--write-rate %v: the disks changed: %v, want %v", tc.rate, changed, tc.writes)
		}
	}
}

// dirDigest hashes every file under dir.
func dirDigest(t *testing.T, dir string) string {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The flags of the hard behaviours map to the simulator's options: the
// defaults are the simulator's, 0 means unlimited (or never).
func TestSimFlagsTuneTheHardBehaviours(t *testing.T) {
	parse := func(args ...string) vsim.Options {
		t.Helper()
		v := &simVerb{}
		fs := flag.NewFlagSet("sim", flag.ContinueOnError)
		v.Flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		o, err := v.options()
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := parse()
	if o.HostRate != vsim.DefaultHostRate || o.HostTotalRate != vsim.DefaultHostTotalRate || o.VCenterRate != vsim.DefaultVCenterRate ||
		o.HostConns != vsim.DefaultHostConns || o.SessionIdle != vsim.DefaultSessionIdle || o.HostsUnreachable || o.NFCLeaseTimeout != vsim.DefaultNFCLeaseTimeout {
		t.Errorf("defaults %+v differ from the simulator's", o)
	}
	o = parse("--host-rate", "10M", "--host-total-rate", "0", "--vcenter-rate", "512K", "--host-conns", "0", "--session-idle", "90s", "--hosts-unreachable")
	if o.HostRate != 10<<20 || o.HostTotalRate != -1 || o.VCenterRate != 512<<10 || o.HostConns != -1 || o.SessionIdle != 90*time.Second || !o.HostsUnreachable {
		t.Errorf("options %+v", o)
	}
	if o := parse("--session-idle", "0"); o.SessionIdle != -1 {
		t.Errorf("--session-idle 0: %v, want never (-1)", o.SessionIdle)
	}
	for _, tc := range []struct {
		flag string
		want int64
	}{{"1T", vsim.DefaultDatastoreCapacity}, {"64M", 64 << 20}, {"0", -1}} {
		if o := parse("--datastore-capacity", tc.flag); o.DatastoreCapacity != tc.want {
			t.Errorf("--datastore-capacity %s: %d, want %d", tc.flag, o.DatastoreCapacity, tc.want)
		}
	}
	if o := parse("--nfc-lease-timeout", "30s"); o.NFCLeaseTimeout != 30*time.Second {
		t.Errorf("--nfc-lease-timeout 30s: %v", o.NFCLeaseTimeout)
	}
	if o := parse("--nfc-lease-timeout", "0"); o.NFCLeaseTimeout != -1 {
		t.Errorf("--nfc-lease-timeout 0: %v, want never (-1)", o.NFCLeaseTimeout)
	}
	v := &simVerb{}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	v.Flags(fs)
	_ = fs.Parse([]string{"--host-rate", "fast"})
	if _, err := v.options(); err == nil || !strings.Contains(err.Error(), "--host-rate") {
		t.Errorf("--host-rate fast: %v", err)
	}
}

// TestSimAskTakesTheURLFromVMLUA_URL: vmlua sim ask without --url uses
// $VMLUA_URL, as vmlua run does (it used to print its usage and exit 2).
func TestSimAskTakesTheURLFromVMLUA_URL(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 1, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Setenv("VMLUA_URL", s.URL.String())
	var out, errb bytes.Buffer
	if rc := dispatch([]string{"sim", "ask", "VM1", "Continue?", "Yes", "No"}, &out, &errb); rc != exitOK {
		t.Fatalf("sim ask: exit %d: %s", rc, errb.String())
	}
	q := s.PendingQuestion("VM1")
	if q == nil || q.ID != strings.TrimSpace(out.String()) {
		t.Fatalf("pending question %+v, want the id sim ask printed (%q)", q, out.String())
	}
}

// --datastore-types chooses the datastores by type; --fleet (on by
// default) adds the VMs on them.
func TestSimDatastoreTypesAndFleetFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		types string
		fleet bool
		err   string
	}{
		{nil, "VMFS5,VMFS6,NFS,vsan,VVOL", true, ""},
		{[]string{"--datastore-types", "VMFS6,vsan", "--fleet=false"}, "VMFS6,vsan", false, ""},
		{[]string{"--datastore-types", "VMFS,ZFS"}, "", false, "--datastore-types"},
	} {
		v := &simVerb{}
		fs := flag.NewFlagSet("sim", flag.ContinueOnError)
		v.Flags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		o, err := v.options()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error naming %s", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(o.DatastoreTypes, ",") != tc.types || o.Fleet != tc.fleet {
			t.Errorf("%q: types %v fleet %v (%v), want %s %v", tc.args, o.DatastoreTypes, o.Fleet, err, tc.types, tc.fleet)
		}
	}
}
