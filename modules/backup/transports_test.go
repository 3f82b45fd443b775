package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/modules/backup/sets"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/ftp"
	_ "github.com/vmlua/vmlua/transports/nfs"
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

// encrypted is a run context whose keyring encrypts every set (the
// config's [encryption] recipients) and opens it (--identity): the
// transport round trips below store encrypted sets, since encryption
// sits above the transports (plain sets on these transports: examples/).
func encrypted(t *testing.T) context.Context {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return sets.WithKeyring(context.Background(), &sets.Keyring{Recipients: []string{id.Recipient().String()}, Identities: []age.Identity{id}})
}

func TestRestoreIsByteExactOverSFTP(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := testservers.SSHD(t)
	url := srv.URL("sftp", srv.DataDir)
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 8 << 20})
	roundTrip(t, e, url, "zstd", simtest.RunOptions{Args: []string{"cred=target"}, Ctx: encrypted(t),
		Mod: withCredentials(t, url, transports.Credentials{KeyFile: srv.ClientKeyFile, KnownHosts: srv.KnownHostsFile})})
}

func TestRestoreIsByteExactOverSMB(t *testing.T) {
	srv := testservers.SMBD(t, testservers.SMBDOptions{})
	url := fmt.Sprintf("smb://%s@%s/%s/backups", srv.User, srv.Addr(), srv.Share)
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 8 << 20})
	roundTrip(t, e, url, "gzip", simtest.RunOptions{Args: []string{"cred=target"}, Ctx: encrypted(t),
		Mod: withCredentials(t, url, transports.Credentials{User: srv.User, Password: srv.Password})})
}

func TestRestoreIsByteExactOverFTPS(t *testing.T) {
	srv := testservers.VSFTPD(t, true)
	dir := filepath.Join(srv.DataDir, "backups")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, srv.User.UID, srv.User.GID); err != nil {
		t.Fatal(err)
	}
	url := srv.URL() + "backups"
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 8 << 20})
	roundTrip(t, e, url, "zstd", simtest.RunOptions{Args: []string{"cred=target", "ca_file=" + srv.CAFile}, Ctx: encrypted(t),
		Mod: withCredentials(t, url, transports.Credentials{Name: "target", Password: srv.User.Password})})
}

func TestRestoreIsByteExactOverNFS(t *testing.T) {
	srv := testservers.Ganesha(t)
	sub := fmt.Sprintf("rt-%d", os.Getpid())
	if err := os.Mkdir(filepath.Join(srv.DataDir, sub), 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Join(srv.DataDir, sub)) })
	base := fmt.Sprintf("nfs://%s:%d%s/%s", srv.Host, srv.Port, srv.Export, strings.TrimPrefix(srv.Path+"/"+sub, "/"))
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 8 << 20})
	roundTrip(t, e, fmt.Sprintf("%s?mountport=%d", base, srv.MountPort), "gzip", simtest.RunOptions{Ctx: encrypted(t),
		Mod: func(o *runtime.Options) {
			if err := o.Grants.Allow(base); err != nil {
				t.Fatal(err)
			}
		}})
}

func TestRestoreIsByteExactFromAVMFSDatastore(t *testing.T) {
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 8 << 20})
	url := "vmfs://LocalDS_1/backups"
	roundTrip(t, e, url, "zstd", simtest.RunOptions{Ctx: encrypted(t), Mod: func(o *runtime.Options) {
		if err := o.Grants.Allow(url); err != nil {
			t.Fatal(err)
		}
	}})
}
