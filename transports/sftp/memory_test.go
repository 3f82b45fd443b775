package sftp_test

import (
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func TestAStreamUploadStaysUnder64MiBOfHeap(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := testservers.SSHD(t)
	transporttest.MemoryBound(t, openTB(t, srv.URL("sftp", freshDir(t, srv)), keyCreds(srv)), 0)
}
