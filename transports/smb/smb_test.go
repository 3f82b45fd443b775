package smb_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/smb"
	"github.com/vmlua/vmlua/transports/transporttest"
)

var dirSeq atomic.Int64

func creds(s *testservers.SMBServer) transports.Options {
	return transports.Options{Credentials: transports.Credentials{Name: "test", User: s.User, Password: s.Password}}
}

func shareURL(s *testservers.SMBServer, p string) string {
	return fmt.Sprintf("smb://%s@%s/%s/%s", s.User, s.Addr(), s.Share, p)
}

func open(t testing.TB, s *testservers.SMBServer, p string) transports.Transport {
	t.Helper()
	tr, err := transports.Open(context.Background(), shareURL(s, p), creds(s))
	if err != nil {
		t.Fatalf("open %s: %v\nsmbd:\n%s", shareURL(s, p), err, s.Daemon.Output())
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// freshDir makes an empty directory in the share, owned by the SMB user.
func freshDir(t testing.TB, s *testservers.SMBServer) string {
	t.Helper()
	name := "t" + strconv.FormatInt(dirSeq.Add(1), 10)
	d := filepath.Join(s.DataDir, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(s.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(d, uid, gid); err != nil {
		t.Fatal(err)
	}
	return name
}

func target(name string, s *testservers.SMBServer, opts testservers.SMBDOptions) transporttest.Target {
	return transporttest.Target{
		Name: name,
		Fresh: func(t *testing.T) transporttest.Fresh {
			d := freshDir(t, s)
			return transporttest.Fresh{URL: shareURL(s, d), Options: creds(s), Dir: filepath.Join(s.DataDir, d)}
		},
		// a second smbd whose share is an 8 MiB tmpfs
		Full: func(t *testing.T) transports.Transport {
			o := opts
			o.DiskSize = 8 << 20
			small := testservers.SMBD(t, o)
			return open(t, small, freshDir(t, small))
		},
		Kill:    func(t *testing.T) { s.Daemon.Kill() },
		BigSize: 64 << 20,
	}
}

func TestConformanceAgainstSambaWithOptionalSigning(t *testing.T) {
	transporttest.Run(t, target("smb", testservers.SMBD(t, testservers.SMBDOptions{}), testservers.SMBDOptions{}))
}

func TestConformanceAgainstSambaWithMandatorySigning(t *testing.T) {
	transporttest.Run(t, target("smb-signed", testservers.SMBD(t, testservers.SMBDOptions{SigningMandatory: true}), testservers.SMBDOptions{SigningMandatory: true}))
}

func TestConformanceAgainstSambaWithRequiredEncryption(t *testing.T) {
	transporttest.Run(t, target("smb-encrypted", testservers.SMBD(t, testservers.SMBDOptions{EncryptRequired: true}), testservers.SMBDOptions{EncryptRequired: true}))
}

func TestAWrongPasswordIsErrAuthAndNeverShown(t *testing.T) {
	s := testservers.SMBD(t, testservers.SMBDOptions{})
	o := creds(s)
	o.Credentials.Password = "not-the-Password-42"
	_, err := transports.Open(context.Background(), shareURL(s, ""), o)
	if !errors.Is(err, transports.ErrAuth) {
		t.Fatalf("Open with a wrong password = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), o.Credentials.Password) {
		t.Fatalf("the error shows the password: %v", err)
	}
	t.Logf("user sees: %v", err)
}

func TestAMissingShareIsNamedInTheError(t *testing.T) {
	s := testservers.SMBD(t, testservers.SMBDOptions{})
	u := fmt.Sprintf("smb://%s@%s/nosuchshare/x", s.User, s.Addr())
	_, err := transports.Open(context.Background(), u, creds(s))
	if err == nil || !strings.Contains(err.Error(), `share "nosuchshare" does not exist`) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing share = %v, want a clear 'share does not exist' error", err)
	}
	t.Logf("user sees: %v", err)
}

func TestCifsIsAnAliasAndTheDomainComesFromTheURL(t *testing.T) {
	s := testservers.SMBD(t, testservers.SMBDOptions{})
	u := fmt.Sprintf("cifs://WORKGROUP;%s@%s/%s/", s.User, s.Addr(), s.Share)
	tr, err := transports.Open(context.Background(), u, creds(s))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if strings.Contains(tr.URL(), s.Password) || !strings.Contains(tr.URL(), "WORKGROUP;"+s.User) {
		t.Fatalf("URL() = %q", tr.URL())
	}
}
