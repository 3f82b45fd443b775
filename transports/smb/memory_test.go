package smb_test

import (
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func TestAStreamUploadStaysUnder64MiBOfHeap(t *testing.T) {
	for name, opts := range map[string]testservers.SMBDOptions{
		"signing optional":  {},
		"signing mandatory": {SigningMandatory: true},
	} {
		t.Run(name, func(t *testing.T) {
			s := testservers.SMBD(t, opts)
			transporttest.MemoryBound(t, open(t, s, freshDir(t, s)), 0)
		})
	}
}
