package vmfs_test

import (
	"testing"

	"github.com/vmlua/vmlua/transports/transporttest"
)

// The simulator runs in this process, so what it allocates to receive the
// PUT counts too: the bound holds for client and server together.
func TestAStreamUploadStaysUnder64MiBOfHeap(t *testing.T) {
	c, _ := simClient(t)
	tr := fresh(t, c)
	t.Cleanup(func() { tr.Close() })
	transporttest.MemoryBound(t, tr, 0)
}
