package nfs_test

import (
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports/transporttest"
)

// Against ganesha only: the in-process go-nfs server's own allocations
// would be charged to the stream.
func TestAStreamUploadStaysUnder64MiBOfHeap(t *testing.T) {
	transporttest.MemoryBound(t, open(t, fresh(t, testservers.Ganesha(t))), 0)
}
