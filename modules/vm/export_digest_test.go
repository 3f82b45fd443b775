package vm_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestExportReturnsTheImagesSpanDigestAndItsSHA256OnlyWhenAsked: v:export
// returns spans_root, the span digest of the bytes it wrote (hashed on
// every core), and sha256= of the whole image only with sha256=true.
func TestExportReturnsTheImagesSpanDigestAndItsSHA256OnlyWhenAsked(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 9<<20 + 4096, WriteRate: -1})
	for _, whole := range []bool{false, true} {
		opt := "{}"
		if whole {
			opt = "{sha256 = true}"
		}
		err, recs := e.Run(t, `local v = require("vm").open("name:DB01")
v:add_redo("scsi0:0")
local res = v:export("scsi0:0", arg.dest, `+opt+`)
require("log").info("exported", { path = res.path, spans_root = res.spans_root or "", sha256 = res.sha256 or "" })
v:commit("scsi0:0", 0, 0, 1)`, simtest.RunOptions{})
		if err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
		r := recs.Find("exported")
		if len(r) != 1 {
			t.Fatalf("no result logged\n%s", recs)
		}
		b, err := os.ReadFile(filepath.Join(e.Dir, r[0]["path"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := spansum.Read(bytes.NewReader(b))
		if r[0]["spans_root"] != want.Root {
			t.Errorf("spans_root %v, the file's (%d bytes) is %s", r[0]["spans_root"], len(b), want.Root)
		}
		sum := sha256.Sum256(b)
		if wantSum := hex.EncodeToString(sum[:]); whole && r[0]["sha256"] != wantSum || !whole && r[0]["sha256"] != "" {
			t.Errorf("sha256=true is %v: sha256 %q, the file's is %s", whole, r[0]["sha256"], wantSum)
		}
	}
}
