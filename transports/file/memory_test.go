package file_test

import (
	"testing"

	"github.com/vmlua/vmlua/transports/transporttest"
)

func TestAStreamUploadStaysUnder64MiBOfHeap(t *testing.T) {
	transporttest.MemoryBound(t, newTB(t), 0)
}
