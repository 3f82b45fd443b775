package testservers

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LoginUser is a local Unix account the SSH and FTP test servers log in as.
type LoginUser struct {
	Name     string
	Password string
	UID, GID int
	Home     string
}

// XferUser and XferPassword are the account SSHD and VSFTPD use. Its shell
// is /bin/bash because vsftpd authenticates through PAM, whose pam_shells
// rule refuses a user whose shell is not in /etc/shells (SMBD's account has
// /usr/sbin/nologin, hence a separate one).
const (
	XferUser     = "vmluaxfer"
	XferPassword = "vmlua-Xfer-pw1"
)

// EnsureXferUser creates XferUser if it is missing and (re)sets its
// password. Test binaries of several packages run at once, so the work is
// serialised with a lock file, and useradd/chpasswd are retried while
// another process holds /etc/passwd's lock.
func EnsureXferUser(t testing.TB) LoginUser {
	t.Helper()
	lu := LoginUser{Name: XferUser, Password: XferPassword, Home: "/var/lib/" + XferUser}
	unlock, err := lockFile("/tmp/vmlua-testservers-users.lock")
	if err != nil {
		t.Fatalf("testservers: %v", err)
	}
	defer unlock()
	if err := os.MkdirAll(lu.Home, 0o755); err != nil {
		t.Fatalf("testservers: home of %s: %v", lu.Name, err)
	}
	if _, err := user.Lookup(lu.Name); err != nil {
		if err := retryLocked("useradd", []string{"-M", "-d", lu.Home, "-s", "/bin/bash", lu.Name}, ""); err != nil {
			t.Fatalf("testservers: %v (tests run as root)", err)
		}
	}
	// Never print the password: chpasswd reads it on stdin.
	if err := retryLocked("chpasswd", nil, lu.Name+":"+lu.Password+"\n"); err != nil {
		t.Fatalf("testservers: %v (tests run as root)", err)
	}
	u, err := user.Lookup(lu.Name)
	if err != nil {
		t.Fatalf("testservers: unix user %s: %v", lu.Name, err)
	}
	lu.UID, _ = strconv.Atoi(u.Uid)
	lu.GID, _ = strconv.Atoi(u.Gid)
	if err := os.Chown(lu.Home, lu.UID, lu.GID); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	return lu
}

// DataDir makes a fresh directory owned by u for a server's files.
func (u LoginUser) DataDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(Dir(t), "data")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	if err := os.Chown(d, u.UID, u.GID); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	return d
}

// SmallDisk mounts a tmpfs of size bytes on a fresh directory owned by u and
// unmounts it when the test ends: a target that fills up (ErrNoSpace).
func (u LoginUser) SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	return SmallDisk(t, size, u.UID, u.GID)
}

// SmallDisk mounts a tmpfs of size bytes, owned by uid:gid, on a fresh
// directory and unmounts it when the test ends (a server may still hold a
// file for a moment, so the unmount is retried, then detached).
func SmallDisk(t testing.TB, size int64, uid, gid int) string {
	t.Helper()
	d := filepath.Join(Dir(t), "small")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	if err := mountTmpfs(d, size, uid, gid); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	t.Cleanup(func() { unmountTmpfs(d) })
	return d
}

func mountTmpfs(d string, size int64, uid, gid int) error {
	opts := fmt.Sprintf("size=%d,mode=0755,uid=%d,gid=%d", size, uid, gid)
	if err := syscall.Mount("tmpfs", d, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("mount a %d-byte tmpfs on %s (tests run as root): %w", size, d, err)
	}
	return nil
}

func unmountTmpfs(d string) {
	for i := 0; i < 50; i++ {
		if err := syscall.Unmount(d, 0); err == nil || err == syscall.EINVAL {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Unmount(d, syscall.MNT_DETACH)
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// retryLocked runs a shadow-utils command, retrying while /etc/passwd or
// /etc/shadow is locked by another process (exit status 1 or 10 with
// "lock" in the message).
func retryLocked(name string, args []string, stdin string) error {
	var out []byte
	var err error
	for i := 0; i < 100; i++ {
		cmd := exec.Command(name, args...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err = cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "already exists") {
			return nil
		}
		if !strings.Contains(strings.ToLower(string(out)), "lock") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
}
