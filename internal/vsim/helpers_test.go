package vsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/streamvmdk"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func startSim(t *testing.T, o Options) (*Sim, *govmomi.Client) {
	t.Helper()
	ctx := context.Background()
	if o.DiskSize == 0 {
		o.DiskSize = 4 << 20
	}
	if o.WriteRate == 0 {
		o.WriteRate = 200
	}
	o.Logf = t.Logf
	s, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Logout(context.Background()) })
	return s, c
}

func findVM(t *testing.T, c *govmomi.Client, name string) *object.VirtualMachine {
	t.Helper()
	vm, err := find.NewFinder(c.Client).VirtualMachine(context.Background(), "*/"+name)
	if err != nil {
		vm, err = find.NewFinder(c.Client).VirtualMachine(context.Background(), name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func vmProps(t *testing.T, vm *object.VirtualMachine, props ...string) mo.VirtualMachine {
	t.Helper()
	var m mo.VirtualMachine
	if err := vm.Properties(context.Background(), vm.Reference(), props, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func diskBackings(m mo.VirtualMachine) map[int32]*types.VirtualDiskFlatVer2BackingInfo {
	out := map[int32]*types.VirtualDiskFlatVer2BackingInfo{}
	for _, d := range m.Config.Hardware.Device {
		if vd, ok := d.(*types.VirtualDisk); ok {
			out[vd.Key] = vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		}
	}
	return out
}

// waitWrites waits until the VM's guest has made at least n more writes.
func waitWrites(t *testing.T, s *Sim, vm string, n uint64) uint64 {
	t.Helper()
	start, err := s.WriteSeq(vm)
	if err != nil {
		t.Fatal(err)
	}
	var cur uint64
	eventually.True(t, fmt.Sprintf("%s: %d guest writes", vm, n), func() bool {
		cur, _ = s.WriteSeq(vm)
		return cur >= start+n
	})
	return cur
}

// sameContent compares got (a stream) with want, reporting the first difference.
func sameContent(t *testing.T, what string, got io.Reader, want io.ReaderAt, size int64) {
	t.Helper()
	a := make([]byte, 1<<20)
	b := make([]byte, 1<<20)
	var off int64
	for off < size {
		n := int(min(int64(len(a)), size-off))
		if _, err := io.ReadFull(got, a[:n]); err != nil {
			t.Fatalf("%s: read at %d: %v", what, off, err)
		}
		if _, err := want.ReadAt(b[:n], off); err != nil && err != io.EOF {
			t.Fatalf("%s: expected at %d: %v", what, off, err)
		}
		if !bytes.Equal(a[:n], b[:n]) {
			for i := range n {
				if a[i] != b[i] {
					t.Fatalf("%s: differs at byte %d (grain %d)", what, off+int64(i), (off+int64(i))/GrainSize)
				}
			}
		}
		off += int64(n)
	}
	if n, _ := got.Read(a[:1]); n != 0 {
		t.Fatalf("%s: longer than %d bytes", what, size)
	}
}

// isFault reports whether err carries a fault of target's type.
func isFault[T any](err error, target *T) bool {
	_, ok := fault.As(err, target)
	return ok
}

// exportReader reads what an export lease serves, a streamOptimized VMDK
// (nfc_lease.go), as the disk's bytes.
func exportReader(t *testing.T, r io.Reader) io.Reader {
	t.Helper()
	sr, err := streamvmdk.NewReader(r)
	if err != nil {
		t.Fatalf("export is not streamOptimized VMDK: %v", err)
	}
	return sr
}
