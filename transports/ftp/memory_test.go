package ftp_test

import (
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func TestAStreamUploadStaysUnder64MiBOfHeap(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "ftp", true: "ftps"}[tls], func(t *testing.T) {
			srv := testservers.VSFTPD(t, tls)
			transporttest.MemoryBound(t, openTB(t, srv.URL()+freshDir(t, srv), creds(srv)), 0)
		})
	}
}
