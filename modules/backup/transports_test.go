package backup_test

import (
	"fmt"
	"testing"

	"github.com/vmlua/vmlua/internal/simtest"

	"github.com/vmlua/vmlua/internal/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/sftp"
	_ "github.com/vmlua/vmlua/transports/smb"
)

func withCredentials(t *testing.T, url string, c transports.Credentials) func(*runtime.Options) {
	return func(o *runtime.Options) {
		if err := o.Grants.Allow(url); err != nil {
			t.Fatal(err)
		}
		o.Credentials = map[string]transports.Credentials{"target": c}
	}
}

func TestRestoreIsByteExactOverSFTP(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := testservers.SSHD(t)
	url := srv.URL("sftp", srv.DataDir)
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 8 << 20})
	roundTrip(t, e, url, "zstd", simtest.RunOptions{Args: []string{"cred=target"},
		Mod: withCredentials(t, url, transports.Credentials{KeyFile: srv.ClientKeyFile, KnownHosts: srv.KnownHostsFile})})
}

func TestRestoreIsByteExactOverSMB(t *testing.T) {
	srv := testservers.SMBD(t, testservers.SMBDOptions{})
	url := fmt.Sprintf("smb://%s@%s/%s/backups", srv.User, srv.Addr(), srv.Share)
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 8 << 20})
	roundTrip(t, e, url, "gzip", simtest.RunOptions{Args: []string{"cred=target"},
		Mod: withCredentials(t, url, transports.Credentials{User: srv.User, Password: srv.Password})})
}
