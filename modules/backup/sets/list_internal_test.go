package sets

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

type openCounter struct {
	transports.Transport
	mu    sync.Mutex
	opens []string
}

func (o *openCounter) Open(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	o.mu.Lock()
	o.opens = append(o.opens, p)
	o.mu.Unlock()
	return o.Transport.Open(ctx, p, off)
}

// The base of an incremental is the newest complete set; finding it reads
// catalogs from the newest set back and stops at the first complete one.
func TestNewestCompleteReadsOnlyTheCatalogsItNeeds(t *testing.T) {
	dir := t.TempDir()
	write := func(set, name string, complete bool) {
		c := catalog.New()
		c.ID, c.Complete = "VM/"+set, complete
		c.VM.Name = "VM"
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "VM", set), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "VM", set, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("20250101T000000Z", catalog.FileName, true)
	write("20250102T000000Z", catalog.FileName, true)
	write("20250103T000000Z", catalog.ProgressName, false)           // cut off
	os.MkdirAll(filepath.Join(dir, "VM", "20250104T000000Z"), 0o755) // cut off before its progress
	os.MkdirAll(filepath.Join(dir, "VM", "not-a-set"), 0o755)
	ft, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()
	oc := &openCounter{Transport: ft}
	c, err := NewestComplete(context.Background(), oc, "VM")
	if err != nil {
		t.Fatal(err)
	}
	if c == nil || c.ID != "VM/20250102T000000Z" {
		t.Fatalf("newest complete set: %+v, want VM/20250102T000000Z", c)
	}
	if strings.Contains(strings.Join(oc.opens, " "), "20250101T000000Z") {
		t.Errorf("the catalog of an older set was read: %v", oc.opens)
	}
	// the same answer as List
	sets, err := List(context.Background(), ft, "VM")
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, s := range sets {
		if s.Complete {
			want = s.ID
		}
	}
	if want != c.ID {
		t.Errorf("List's newest complete set is %s, NewestComplete's %s", want, c.ID)
	}
	if c, err := NewestComplete(context.Background(), ft, "NOVM"); err != nil || c != nil {
		t.Errorf("a VM without sets: %v, %v", c, err)
	}
}
