package testservers

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SMBDOptions select how strict the Samba server is.
type SMBDOptions struct {
	// SigningMandatory sets "server signing = mandatory".
	SigningMandatory bool
	// EncryptRequired sets "smb encrypt = required" on the share.
	EncryptRequired bool
	// DiskSize, when > 0, puts the share on a tmpfs of that many bytes,
	// for the disk-full case (the server's ENOSPC becomes
	// STATUS_DISK_FULL).
	DiskSize int64
}

// SMBServer is a running smbd with one share.
type SMBServer struct {
	Host     string // "127.0.0.1"
	Port     int
	Share    string // share name
	User     string
	Password string
	DataDir  string // the share's directory on the local disk
	Daemon   *Daemon
}

// Addr is host:port.
func (s *SMBServer) Addr() string { return fmt.Sprintf("%s:%d", s.Host, s.Port) }

// SMBTestUser and SMBTestPassword are the account SMBD creates (a unix user
// must exist for Samba to map the SMB user to).
const (
	SMBTestUser     = "vmluatest"
	SMBTestPassword = "vmlua-Test-pw1"
)

// smbUnixUser makes sure the unix account SMBTestUser exists (as root),
// serialised across test binaries with users.go's lock and retries.
func smbUnixUser(t testing.TB) (uid, gid int) {
	t.Helper()
	unlock, err := lockFile("/tmp/vmlua-testservers-users.lock")
	if err != nil {
		t.Fatalf("testservers: %v", err)
	}
	defer unlock()
	if _, err := user.Lookup(SMBTestUser); err != nil {
		if err := retryLocked("useradd", []string{"-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", SMBTestUser}, ""); err != nil {
			t.Fatalf("testservers: %v (tests run as root)", err)
		}
	}
	u, err := user.Lookup(SMBTestUser)
	if err != nil {
		t.Fatalf("testservers: unix user %s: %v", SMBTestUser, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// SMBD starts Samba's smbd on a free port of 127.0.0.1 with a private state
// directory and one share, "backup", over a fresh directory, writable by
// SMBTestUser / SMBTestPassword. It is stopped when the test ends.
func SMBD(t testing.TB, opts SMBDOptions) *SMBServer {
	t.Helper()
	for _, bin := range []string{"/usr/sbin/smbd", "smbpasswd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("testservers: SMBD needs %s (package samba), which is not installed (bash .ci/install-deps): %v", bin, err)
		}
	}
	uid, gid := smbUnixUser(t)
	root := Dir(t)
	data := filepath.Join(root, "share")
	for _, d := range []string{"run", "lock", "state", "cache", "private", "ncalrpc", "logs", "share"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if opts.DiskSize > 0 {
		if err := mountTmpfs(data, opts.DiskSize, uid, gid); err != nil {
			t.Fatalf("testservers: %v", err)
		}
		// registered before Start's cleanup, so it runs after smbd is stopped
		t.Cleanup(func() { unmountTmpfs(data) })
	}
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	signing := "auto"
	if opts.SigningMandatory {
		signing = "mandatory"
	}
	encrypt := "off"
	if opts.EncryptRequired {
		encrypt = "required"
	}
	cfg := filepath.Join(root, "smb.conf")
	conf := fmt.Sprintf(`[global]
  server role = standalone server
  workgroup = WORKGROUP
  netbios name = VMLUATEST
  smb ports = %[2]d
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  pid directory = %[1]s/run
  lock directory = %[1]s/lock
  state directory = %[1]s/state
  cache directory = %[1]s/cache
  private dir = %[1]s/private
  ncalrpc dir = %[1]s/ncalrpc
  passdb backend = tdbsam:%[1]s/private/passdb.tdb
  log file = %[1]s/logs/log.%%m
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
  server min protocol = SMB2_02
  server max protocol = SMB3_11
  server signing = %[3]s
[backup]
  path = %[5]s
  read only = no
  valid users = %[6]s
  create mask = 0644
  directory mask = 0755
  smb encrypt = %[4]s
`, root, port, signing, encrypt, data, SMBTestUser)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("smbpasswd", "-c", cfg, "-a", "-s", SMBTestUser)
	cmd.Stdin = strings.NewReader(SMBTestPassword + "\n" + SMBTestPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testservers: smbpasswd -a %s: %v: %s", SMBTestUser, err, out)
	}
	d := Start(t, "smbd", "/usr/sbin/smbd", "--foreground", "--no-process-group", "--debug-stdout", "-s", cfg)
	d.WaitPort(t, port, 20*time.Second)
	return &SMBServer{Host: "127.0.0.1", Port: port, Share: "backup", User: SMBTestUser, Password: SMBTestPassword, DataDir: data, Daemon: d}
}
