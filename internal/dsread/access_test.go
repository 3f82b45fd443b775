package dsread

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/internal/vsim"
)

// simDatastore logs in to s and returns LocalDS_0 and the ref of the host
// VM1 runs on.
func simDatastore(t *testing.T, s *vsim.Sim) (*govmomi.Client, *object.Datastore, types.ManagedObjectReference) {
	t.Helper()
	c, ds := openDS(t, s.URL)
	vm, err := find.NewFinder(c.Client).VirtualMachine(t.Context(), "VM1")
	if err != nil {
		t.Fatal(err)
	}
	h, err := vm.HostSystem(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c, ds, h.Reference()
}

// TestHostBudgetIsSharedByTheSessionsDisks: several GETs per disk, at
// most PerHost in flight at the host for all the disks of the session
// together, every byte right.
func TestHostBudgetIsSharedByTheSessionsDisks(t *testing.T) {
	for _, perHost := range []int{0, 2} {
		want := perHost
		if want == 0 {
			want = DefaultPerHost
		}
		var mu sync.Mutex
		cur, peak := 0, 0
		full := make(chan struct{})
		var once sync.Once
		s, err := vsim.Start(t.Context(), vsim.Options{VMs: 1, DiskSize: 8 << 20, Inventory: []vsim.VMSpec{{Name: "VM1", PoweredOff: true}},
			OnFolder: func(r vsim.FolderRequest) {
				if !strings.HasSuffix(r.Path, "-flat.vmdk") {
					return
				}
				mu.Lock()
				cur++
				peak = max(peak, cur)
				if cur == want {
					once.Do(func() { close(full) })
				}
				mu.Unlock()
				<-full // the first GETs wait until the budget is full: they overlap
				mu.Lock()
				cur--
				mu.Unlock()
			}})
		if err != nil {
			t.Fatal(err)
		}
		c, ds, host := simDatastore(t, s)
		if perHost != 0 {
			if _, err := Attach(c.Client, Config{PerHost: perHost}); err != nil {
				t.Fatal(err)
			}
		}
		// two disks' worth of files on the datastore, read at once
		local, _ := s.DatastoreFile("[LocalDS_0] VM1/VM1-flat.vmdk")
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ext := []vmdk.Extent{{File: "VM1-flat.vmdk", Bytes: 8 << 20}}
				cl, err := NewClient(t.Context(), ds, "VM1", ext, OnHost(&host))
				if err != nil {
					t.Error(err)
					return
				}
				defer cl.Close()
				if !cl.Direct() {
					t.Error("not reading from the host directly")
				}
				var got strings.Builder
				if err := cl.Copy(t.Context(), &got, Spans(ext, []Area{{0, 8 << 20}}, 1<<20)); err != nil {
					t.Error(err)
					return
				}
				if err := sameAsFile(got.String(), local); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		s.Close()
		if peak != want {
			t.Errorf("PerHost %d: %d GETs at once at the host, want %d", perHost, peak, want)
		}
	}
}

func sameAsFile(got, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if string(b) != got {
		return errors.New("the bytes read differ from the file's")
	}
	return nil
}
