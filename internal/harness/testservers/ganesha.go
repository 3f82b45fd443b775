package testservers

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// NFSServer is an NFSv3 server on loopback. Export is what a client MOUNTs;
// Path is the fresh directory a test should use, relative to the export
// (so the transport URL is nfs://Host:Port/Export/Path?mountport=MountPort).
type NFSServer struct {
	Host      string
	Port      int // NFS
	MountPort int // MOUNT (same as Port for go-nfs)
	Export    string
	Path      string
	DataDir   string // Path on the local disk
	// Kill ends the server abruptly (for "server died mid-upload").
	Kill func()
}

// URL is the nfs:// URL of the test's directory, with the mount port given
// so that no portmapper is needed.
func (s *NFSServer) URL() string {
	return fmt.Sprintf("nfs://%s:%d%s/%s?mountport=%d", s.Host, s.Port, s.Export, s.Path, s.MountPort)
}

// Ganesha starts nfs-ganesha (VFS FSAL) — once per test binary, because two
// ganesha instances register the same RPC programs with the one rpcbind and
// would conflict — and returns it with a fresh directory for this test.
// rpcbind is started first unless something already listens on port 111
// (then it is left alone). A ganesha that was killed (by a test's Kill) is
// started again. Call StopShared from TestMain to stop what was started.
//
// Needs the Debian packages nfs-ganesha, nfs-ganesha-vfs and rpcbind; a
// missing binary fails the test.
func Ganesha(t testing.TB) *NFSServer {
	t.Helper()
	return ganesha(t, false)
}

// GaneshaSmallDiskSize is the size of the tmpfs behind GaneshaSmall's export.
const GaneshaSmallDiskSize = 8 << 20

// GaneshaSmall is Ganesha, but the fresh directory is in a second export,
// "/small", whose file system is a tmpfs of GaneshaSmallDiskSize bytes
// shared by the binary's tests: the disk-full case (ENOSPC reaches the
// client as NFS3ERR_NOSPC). A test that fills it must leave it empty.
func GaneshaSmall(t testing.TB) *NFSServer {
	t.Helper()
	return ganesha(t, true)
}

func ganesha(t testing.TB, small bool) *NFSServer {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ganesha == nil || shared.ganesha.Exited() {
		if err := startGanesha(); err != nil {
			t.Fatalf("testservers: %v", err)
		}
	}
	n := atomic.AddInt64(&shared.seq, 1)
	sub := fmt.Sprintf("t%03d", n)
	base, export := shared.exportDir, "/export"
	if small {
		base, export = shared.smallDir, "/small"
	}
	dir := filepath.Join(base, sub)
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	g := shared.ganesha
	return &NFSServer{
		Host: "127.0.0.1", Port: shared.nfsPort, MountPort: shared.mntPort,
		Export: export, Path: sub, DataDir: dir,
		Kill: g.Kill,
	}
}

var shared struct {
	mu        sync.Mutex
	seq       int64
	root      string
	exportDir string
	smallDir  string // a tmpfs of GaneshaSmallDiskSize, the "/small" export
	nfsPort   int
	mntPort   int
	rpcbind   *Daemon
	ganesha   *Daemon
}

// StopShared stops the daemons shared across a test binary's tests (the
// ganesha and the rpcbind this package started), by PID, and removes their
// state. Call it from TestMain after m.Run.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ganesha != nil {
		shared.ganesha.Stop()
		shared.ganesha = nil
	}
	if shared.rpcbind != nil {
		shared.rpcbind.Stop()
		shared.rpcbind = nil
	}
	if shared.smallDir != "" {
		unmountTmpfs(shared.smallDir)
		shared.smallDir = ""
	}
	if shared.root != "" {
		_ = os.RemoveAll(shared.root)
		shared.root = ""
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startDetached starts a daemon that outlives any one test (StopShared ends it).
func startDetached(name string, argv ...string) (*Daemon, error) {
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("%s needs %s, which is not installed (bash .ci/install-deps): %w", name, argv[0], err)
	}
	d := &Daemon{Name: name, done: make(chan struct{})}
	d.Log = new(bytes.Buffer)
	d.Cmd = exec.Command(argv[0], argv[1:]...)
	d.Cmd.Stdout = &lockedWriter{d: d}
	d.Cmd.Stderr = &lockedWriter{d: d}
	// Pdeathsig: a test binary that panics never reaches StopShared; the
	// kernel then ends the daemons it started.
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := d.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = d.Cmd.Wait(); close(d.done) }()
	return d, nil
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func waitListening(d *Daemon, addr string, timeout time.Duration, logFile string) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if d.Exited() {
			return fmt.Errorf("%s exited before listening on %s:\n%s%s", d.Name, addr, d.Output(), readTail(logFile))
		}
		if listening(addr) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening on %s after %v:\n%s%s", d.Name, addr, timeout, d.Output(), readTail(logFile))
}

func readTail(file string) string {
	if file == "" {
		return ""
	}
	b, _ := os.ReadFile(file)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// startGanesha is called with shared.mu held.
func startGanesha() error {
	for _, bin := range []string{"/usr/bin/ganesha.nfsd", "/sbin/rpcbind"} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("Ganesha needs %s (packages nfs-ganesha, nfs-ganesha-vfs, rpcbind), which is not installed (bash .ci/install-deps): %v", bin, err)
		}
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so"); err != nil {
		if m, _ := filepath.Glob("/usr/lib/*/ganesha/libfsalvfs.so"); len(m) == 0 {
			return fmt.Errorf("Ganesha needs the VFS FSAL (package nfs-ganesha-vfs), which is not installed (bash .ci/install-deps)")
		}
	}
	if shared.rpcbind == nil && !listening("127.0.0.1:111") {
		_ = os.MkdirAll("/run/rpcbind", 0o755)
		// NB: "rpcbind -h 127.0.0.1" crashed (double free) on Debian 12.
		d, err := startDetached("rpcbind", "/sbin/rpcbind", "-f")
		if err != nil {
			return err
		}
		shared.rpcbind = d
		if err := waitListening(d, "127.0.0.1:111", 10*time.Second, ""); err != nil {
			d.Stop()
			shared.rpcbind = nil
			return err
		}
	}
	if shared.root == "" {
		root, err := os.MkdirTemp("", "vmlua-ganesha-")
		if err != nil {
			return err
		}
		_ = os.Chmod(root, 0o755)
		shared.root = root
		shared.exportDir = filepath.Join(root, "export")
		small := filepath.Join(root, "small")
		for _, d := range []string{shared.exportDir, small, filepath.Join(root, "recovery")} {
			if err := os.MkdirAll(d, 0o777); err != nil {
				return err
			}
		}
		if err := mountTmpfs(small, GaneshaSmallDiskSize, 0, 0); err != nil {
			return err
		}
		_ = os.Chmod(small, 0o777)
		shared.smallDir = small
	}
	var err error
	if shared.nfsPort, err = freePort(); err != nil {
		return err
	}
	if shared.mntPort, err = freePort(); err != nil {
		return err
	}
	root := shared.root
	conf := fmt.Sprintf(`NFS_CORE_PARAM {
    Protocols = 3, 4;
    Bind_addr = 127.0.0.1;
    NFS_Port = %d;
    MNT_Port = %d;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    Mount_Path_Pseudo = true;
}
NFSV4 {
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = %s/recovery;
    Only_Numeric_Owners = true;
}
EXPORT {
    Export_Id = 1;
    Path = %s;
    Pseudo = /export;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
}
EXPORT {
    Export_Id = 2;
    Path = %s;
    Pseudo = /small;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
}
`, shared.nfsPort, shared.mntPort, root, shared.exportDir, shared.smallDir)
	cfg := filepath.Join(root, "ganesha.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return err
	}
	logFile := filepath.Join(root, "ganesha.log")
	d, err := startDetached("ganesha", "/usr/bin/ganesha.nfsd", "-F", "-f", cfg, "-L", logFile, "-p", filepath.Join(root, "ganesha.pid"), "-N", "NIV_EVENT")
	if err != nil {
		return err
	}
	for _, p := range []int{shared.nfsPort, shared.mntPort} {
		if err := waitListening(d, fmt.Sprintf("127.0.0.1:%d", p), 30*time.Second, logFile); err != nil {
			d.Stop()
			return err
		}
	}
	shared.ganesha = d
	return nil
}
