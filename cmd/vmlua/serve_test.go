package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports/file"
)

// needTool fails the test, saying what to install, when a client
// program is missing (no skip: CI installs them, .ci/install-deps).
func needTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: install Debian's %s (.ci/install-deps does)", name, pkg)
	}
	return p
}

// chainOfDB01 backs DB01 (three disks) up as a full and two incrementals,
// with guest writes between, and returns the sets and write counts.
func chainOfDB01(t *testing.T, diskSize int64) (*simtest.Env, []string, []uint64) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: diskSize})
	var ids []string
	var seqs []uint64
	for range 3 {
		if _, err := e.Sim.GuestWrite("DB01", 40); err != nil {
			t.Fatal(err)
		}
		id, seq := e.Backup(t, "DB01", "incremental")
		ids, seqs = append(ids, id), append(seqs, seq)
	}
	return e, ids, seqs
}

func catalogOf(t testing.TB, dir, id string) *catalog.Catalog {
	t.Helper()
	ft, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()
	cat, err := sets.ReadCatalog(context.Background(), ft, id+"/"+catalog.FileName)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// verbProc is a vmlua process a test started.
type verbProc struct {
	cmd       *exec.Cmd
	out, errb *simtest.LockedBuffer
	exited    chan struct{}
	err       error // once exited is closed
}

// wait waits for the process to end and returns how it ended.
func (p *verbProc) wait() error {
	<-p.exited
	return p.err
}

// startVerb starts vmlua with args and waits until its output matches
// ready; it is killed when the test ends if still running.
func startVerb(t testing.TB, ready *regexp.Regexp, args ...string) *verbProc {
	t.Helper()
	return startCmd(t, ready, exec.Command(simtest.Binary(t), args...), args)
}

// startCmd is startVerb for a command that runs vmlua with args in
// another way (in a network namespace of its own).
func startCmd(t testing.TB, ready *regexp.Regexp, cmd *exec.Cmd, args []string) *verbProc {
	t.Helper()
	p := &verbProc{cmd: cmd, out: &simtest.LockedBuffer{}, errb: &simtest.LockedBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
	eventually.True(t, "vmlua "+args[0]+" to print "+ready.String(), func() bool {
		select {
		case <-p.exited:
			t.Fatalf("vmlua %s exited before it was ready (%v):\n%s\n%s", strings.Join(args, " "), p.err, p.out, p.errb)
		default:
		}
		return ready.MatchString(p.out.String())
	})
	return p
}

var nbdURL = regexp.MustCompile(`nbd://127\.0\.0\.1:\d+/(scsi\d+:\d+)`)

func TestServeNBDExportsAPointByteExact(t *testing.T) {
	qemuImg := needTool(t, "qemu-img", "qemu-utils")
	nbdinfo := needTool(t, "nbdinfo", "libnbd-bin")
	nbdcopy := needTool(t, "nbdcopy", "libnbd-bin")
	e, ids, seqs := chainOfDB01(t, 4<<20)
	point := 1 // inside the chain: a full and one incremental
	cat := catalogOf(t, e.Dir, ids[point])
	if cat.Mode != catalog.ModeIncremental || len(cat.Disks) < 2 {
		t.Fatalf("set %s: mode %s, %d disks", cat.ID, cat.Mode, len(cat.Disks))
	}
	p := startVerb(t, regexp.MustCompile(`(?s)(`+nbdURL.String()+`.*){`+fmt.Sprint(len(cat.Disks))+`}`),
		"serve", "nbd", "--listen", "127.0.0.1:0", "file://"+e.Dir, "DB01@"+strings.TrimPrefix(ids[point], "DB01/"))
	urls := nbdURL.FindAllString(p.out.String(), -1)
	dir := t.TempDir()
	for i, d := range cat.Disks {
		want := e.Expected(t, "DB01", d.ID, seqs[point])
		u := urls[i]
		if !strings.HasSuffix(u, "/"+d.ID) {
			t.Fatalf("export %d is %s, disk %s", i, u, d.ID)
		}
		raw := filepath.Join(dir, fmt.Sprintf("q%d.raw", i))
		if o, err := exec.Command(qemuImg, "convert", "-f", "raw", "-O", "raw", u, raw).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert %s: %v\n%s", u, err, o)
		}
		if got, _ := os.ReadFile(raw); !bytes.Equal(got, want) {
			t.Fatalf("qemu-img convert %s: not the disk at point %s", u, ids[point])
		}
		raw = filepath.Join(dir, fmt.Sprintf("c%d.raw", i))
		if o, err := exec.Command(nbdcopy, u, raw).CombinedOutput(); err != nil {
			t.Fatalf("nbdcopy %s: %v\n%s", u, err, o)
		}
		if got, _ := os.ReadFile(raw); !bytes.Equal(got, want) {
			t.Fatalf("nbdcopy %s: not the disk at point %s", u, ids[point])
		}
		o, err := exec.Command(nbdinfo, "--map", u).CombinedOutput()
		if err != nil {
			t.Fatalf("nbdinfo --map %s: %v\n%s", u, err, o)
		}
		zeros := int64(0)
		for _, line := range strings.Split(strings.TrimSpace(string(o)), "\n") {
			var off, n int64
			var typ int
			fmt.Sscan(line, &off, &n, &typ)
			if typ == 3 {
				zeros += n
				if !bytes.Equal(want[off:off+n], make([]byte, n)) {
					t.Fatalf("nbdinfo --map %s: %q is a zero area with data", u, line)
				}
			}
		}
		if zeros == 0 {
			t.Fatalf("nbdinfo --map %s shows no zero area (the simulator's disks have holes):\n%s", u, o)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil || !strings.Contains(p.out.String(), "stopped serving") {
		t.Fatalf("after SIGTERM: %v\n%s\n%s", err, p.out, p.errb)
	}
}

func TestServeNBDReadsOfADamagedSetAreIOErrorsAtTheirOffset(t *testing.T) {
	qemuImg := needTool(t, "qemu-img", "qemu-utils")
	e, ids, _ := chainOfDB01(t, 16<<20) // a full of several spans: the damage is in a later one
	full := catalogOf(t, e.Dir, ids[0])
	stored := filepath.Join(e.Dir, filepath.FromSlash(ids[0]), full.Disks[0].File)
	b, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)*3/4] ^= 0xff
	os.WriteFile(stored, b, 0o644)
	p := startVerb(t, nbdURL, "serve", "nbd", "--listen", "127.0.0.1:0", "file://"+e.Dir, "DB01@"+strings.TrimPrefix(ids[2], "DB01/"))
	u := nbdURL.FindString(p.out.String())
	o, err := exec.Command(qemuImg, "convert", "-f", "raw", "-O", "raw", u, filepath.Join(t.TempDir(), "x.raw")).CombinedOutput()
	if err == nil || !strings.Contains(string(o), "Input/output error") {
		t.Fatalf("qemu-img convert of a damaged point: %v\n%s", err, o)
	}
	eventually.True(t, "the server to warn about the damaged disk once its index ends", func() bool {
		return strings.Contains(p.errb.String(), "the disk is damaged")
	})
	// the server logs a failed read before it replies: at an offset
	// past the undamaged start
	m := regexp.MustCompile(`nbd: (read|block status) failed.*offset=(\d+).*image byte (\d+)`).FindStringSubmatch(p.errb.String())
	if m == nil || m[2] == "0" || m[2] != m[3] {
		t.Fatalf("the server did not log the failed read at its offset:\n%s", p.errb)
	}
}

func TestServeNBDRefusesAnOpenAddressWithoutTLS(t *testing.T) {
	var out, errb bytes.Buffer
	code := dispatch([]string{"serve", "nbd", "--listen", "0.0.0.0:0", "file:///nonexistent", "DB01"}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "not a loopback address") || !strings.Contains(errb.String(), "--tls-cert") {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
}

func TestServeNBDTLSFlags(t *testing.T) {
	dir := t.TempDir()
	cert, key := testservers.SelfSignedCert(t, dir)
	for _, c := range []struct {
		name                        string
		listen, cert, key, clientCA string
		want                        string // "" no TLS, "tls", "mtls", or the error's words
	}{
		{"loopback needs no TLS", "127.0.0.1:10809", "", "", "", ""},
		{"localhost needs no TLS", "localhost:0", "", "", "", ""},
		{"an open address needs TLS", "0.0.0.0:10809", "", "", "", "not a loopback address"},
		{"an address of the machine needs TLS", "192.0.2.7:10809", "", "", "", "not a loopback address"},
		{"a certificate and its key give TLS", "0.0.0.0:10809", cert, key, "", "tls"},
		{"a client CA asks clients for certificates", "0.0.0.0:10809", cert, key, cert, "mtls"},
		{"a certificate without its key", "127.0.0.1:0", cert, "", "", "go together"},
		{"a client CA that is no PEM", "127.0.0.1:0", cert, key, key, "no PEM certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := &serveNBDVerb{listen: c.listen, cert: c.cert, key: c.key, clientCA: c.clientCA}
			tc, err := v.tlsConfig()
			switch c.want {
			case "":
				if err != nil || tc != nil {
					t.Fatalf("%v, %v", tc, err)
				}
			case "tls", "mtls":
				if err != nil || tc == nil || (c.want == "mtls") != (tc.ClientAuth == tls.RequireAndVerifyClientCert) {
					t.Fatalf("%+v, %v", tc, err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q", err, c.want)
				}
			}
		})
	}
}
