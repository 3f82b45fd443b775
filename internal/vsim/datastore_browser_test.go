package vsim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/types"
)

// A search of a folder whose files are renamed and removed meanwhile (the
// uploads and locks of clients sharing a folder) answers with what it
// found, and the simulator keeps running: vcsim's own search dereferences
// the missing file's attributes and kills the process.
func TestASearchSurvivesFilesVanishingFromItsFolder(t *testing.T) {
	dsDir := t.TempDir()
	_, c := startSim(t, Options{DatastoreDir: dsDir})
	ctx := context.Background()
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := f.SetDatacenter(dc).Datastore(ctx, "LocalDS_1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ds.Browser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(dsDir, "LocalDS_1", "churn")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stays.vmdk"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tmp := filepath.Join(dir, fmt.Sprintf(".f%d.partial", i))
			_ = os.WriteFile(tmp, []byte("x"), 0o644)
			_ = os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("f%d", i)))
			_ = os.Remove(filepath.Join(dir, fmt.Sprintf("f%d", i)))
		}
	})
	defer func() { close(stop); wg.Wait() }()
	spec := types.HostDatastoreBrowserSearchSpec{
		Query:        []types.BaseFileQuery{&types.FolderFileQuery{}, &types.FileQuery{}},
		Details:      &types.FileQueryFlags{FileType: true, FileSize: true, Modification: true},
		MatchPattern: []string{"*"},
	}
	for i := range 100 {
		task, err := b.SearchDatastore(ctx, "[LocalDS_1] churn", &spec)
		if err != nil {
			t.Fatal(err)
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			t.Fatalf("search %d: %v", i, err)
		}
		res := info.Result.(types.HostDatastoreBrowserSearchResults)
		found := false
		for _, f := range res.File {
			found = found || f.GetFileInfo().Path == "stays.vmdk"
		}
		if !found {
			t.Fatalf("search %d did not list stays.vmdk: %d entries", i, len(res.File))
		}
	}
}
