package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestADatastoreFileShorterThanItsDescriptorIsSaidOneWay: a disk whose
// flat file on the datastore holds fewer bytes than its descriptor says
// fails v:backup and v:export with one wording, which says what is wrong
// (the file is shorter, how much it holds), never "the datastore ignored
// the byte range" nor a bare HTTP status, wherever the file ends: empty,
// inside a span, on a span's boundary.
func TestADatastoreFileShorterThanItsDescriptorIsSaidOneWay(t *testing.T) {
	const want = "is shorter than the disk's descriptor says"
	for _, size := range []int64{0, 5<<20 + 4096, 8 << 20} {
		for _, call := range []struct{ name, script string }{
			{"v:backup", `require("vm").open("name:C1"):backup{ to = arg.dest }`},
			{"v:export", `require("vm").open("name:C1"):export("scsi0:0", arg.dest)`},
		} {
			t.Run(fmt.Sprintf("%s of a file of %d bytes", call.name, size), func(t *testing.T) {
				dir := t.TempDir()
				e := simtest.Start(t, vsim.Options{DatastoreDir: dir, Inventory: []vsim.VMSpec{{Name: "C1", PoweredOff: true}}})
				flats, _ := filepath.Glob(filepath.Join(dir, "*", "C1", "C1-flat.vmdk"))
				if len(flats) != 1 {
					t.Fatalf("C1's flat file: %v", flats)
				}
				if err := os.Truncate(flats[0], size); err != nil {
					t.Fatal(err)
				}
				err, recs := e.Run(t, call.script, simtest.RunOptions{})
				if err == nil {
					t.Fatalf("%s of a truncated disk succeeded\n%s", call.name, recs)
				}
				msg := err.Error()
				if !strings.Contains(msg, want) || !strings.Contains(msg, "C1-flat.vmdk") {
					t.Errorf("error = %q, want it to say %q and name the file", msg, want)
				}
				if held := fmt.Sprintf("holds %d bytes", size); !strings.Contains(msg, held) {
					t.Errorf("error = %q, want it to say the file %s", msg, held)
				}
				for _, bad := range []string{"ignored the byte range", "416", "were asked for"} {
					if strings.Contains(msg, bad) {
						t.Errorf("error = %q, says %q", msg, bad)
					}
				}
				if p := simtest.Partials(e.Dir); len(p) > 0 {
					t.Errorf("partial files left: %v", p)
				}
			})
		}
	}
}
