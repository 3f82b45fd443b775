package faultmatrix

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// setCycle backs the VM up into a set, then applies retention (keep one)
// through arg.local, a file:// view of the same folder that works even
// when the target's server is dead; the backup's error is raised after.
const setCycle = `
local vm, backup = require "vm", require "backup"
local v = vm.open(arg.vm)
local ok, err = pcall(v.backup, v, { to = arg.dest, credentials = arg.cred, compress = arg.compress or "zstd" })
local p = backup.prune{ at = arg["local"], vm = v.name, keep = 1 }
print("prune skipped=" .. tostring(p.skipped) .. " removed=" .. #p.removed)
if not ok then error(err, 0) end
`

// setCell is a fault striking a v:backup while an older complete set of
// the same VM is on the target.
type setCell struct {
	name   string
	target string // targetSFTP, targetSFTPBad or targetFileFull
	// onProgress strikes during the failing backup
	onProgress func(f *fx, done, total int64)
	compress   string
	wantCode   string
	wantIn     []string
}

func setMatrix() []setCell {
	return []setCell{
		{name: "the SFTP server killed in the middle of a set leaves no complete set, the older set untouched and retention not run",
			target: targetSFTP, onProgress: killAt(0.5), wantCode: runtime.CodeTransport, wantIn: []string{"$vm"}},
		{name: "a file target running out of space in the middle of a set leaves no complete set, the older set untouched and retention not run",
			target: targetFileFull, compress: "none", wantCode: runtime.CodeTransport, wantIn: []string{"$vm", "space"}},
		{name: "wrong SFTP credentials with an older set on the target fail the backup and leave the older set and retention alone",
			target: targetSFTPBad, wantCode: runtime.CodeAuth, wantIn: []string{"$vm", "auth"}},
	}
}

// TestFaultMatrixSets is the matrix's rows for backup sets: invariants (1)
// no snapshot left, (2) no set without a verified catalog is complete and
// no partial file sits under a final name, (3) the older complete set is
// untouched and retention did not run for the VM, (4) a one-line error
// naming the VM and the cause.
func TestFaultMatrixSets(t *testing.T) {
	for _, c := range setMatrix() {
		t.Run(c.name, func(t *testing.T) {
			f := &fx{t: t, disk: "scsi0:0", vm: "FM01", capacity: 16 << 20}
			f.world = startWorld(t, vsim.Options{WriteRate: 100, Inventory: []vsim.VMSpec{{Name: "FM01", Disks: []vsim.DiskSpec{{Size: 16 << 20}}}}})
			older := f.olderSet(c)
			before := treeSums(t, filepath.Join(f.dir, "FM01", older))
			err := f.runSetCell(c)
			f.reconnect()
			want := cell{wantCode: c.wantCode, wantIn: c.wantIn, wantLogs: []string{"prune skipped=true removed=0"}}
			f.checkRun(want, err)
			f.checkNoSnapshot()
			f.checkSets(older, before)
			f.checkGuestWrites()
		})
	}
}

// olderSet makes the older complete set on the cell's target folder and
// returns its timestamp.
func (f *fx) olderSet(c setCell) string {
	t := f.t
	switch c.target {
	case targetFileFull:
		// made on a plain folder, then copied onto a tmpfs with room for
		// it and 2 MiB more: the next, uncompressed set cannot fit
		f.setTarget(targetFile)
		f.local = f.dest
		f.runOK(setCycle)
		size := dirSize(t, f.dir)
		src := f.dir
		f.dir = testservers.EnsureXferUser(t).SmallDisk(t, (size+(2<<20)+4095)/4096*4096+64<<10)
		f.dest = "file://" + f.dir
		copyTree(t, src, f.dir)
		f.local = f.dest
		f.extra = []string{"compress=" + c.compress}
	case targetSFTP, targetSFTPBad:
		f.setTarget(targetSFTP)
		f.local = "file://" + f.dir
		f.runOK(setCycle)
		if c.target == targetSFTPBad {
			f.cred = &transports.Credentials{Name: "target", User: f.sshd.User.Name, Password: "not-the-" + f.sshd.User.Password, KnownHosts: f.sshd.KnownHostsFile}
		}
	default:
		t.Fatalf("no older set for target %q", c.target)
	}
	sets := completeSets(t, f.dir)
	if len(sets) != 1 {
		t.Fatalf("want one older complete set, found %v", sets)
	}
	return sets[0]
}

func (f *fx) runOK(script string) {
	f.t.Helper()
	if err := f.runInProcess(cell{script: script}); err != nil {
		f.t.Fatalf("the run making the older set failed: %v", err)
	}
}

func (f *fx) runSetCell(c setCell) error {
	return f.runInProcess(cell{script: setCycle, onProgress: c.onProgress})
}

// checkSets is invariants (2) and (3) for sets.
func (f *fx) checkSets(older string, before map[string]string) {
	t := f.t
	if sets := completeSets(t, f.dir); len(sets) != 1 || sets[0] != older {
		t.Errorf("(2) complete sets after the fault: %v, want only the older %s", sets, older)
	}
	if after := treeSums(t, filepath.Join(f.dir, "FM01", older)); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("(3) the older set changed:\nbefore %v\nafter  %v", before, after)
	}
	// no partial file under a final name in the failed set's folder
	ents, _ := os.ReadDir(filepath.Join(f.dir, "FM01"))
	for _, e := range ents {
		if e.Name() == older {
			continue
		}
		_ = filepath.WalkDir(filepath.Join(f.dir, "FM01", e.Name()), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.Contains(d.Name(), ".vmlua-") && d.Name() != catalog.ProgressName {
				if strings.Contains(d.Name(), ".vls") {
					t.Errorf("(2) a disk image sits under its final name in the failed set: %s", p)
				}
			}
			return nil
		})
	}
}

// completeSets lists the timestamps of FM01's sets that have a catalog.
func completeSets(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "FM01", "*", catalog.FileName))
	var out []string
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := catalog.Parse(b); err != nil {
			t.Errorf("(2) %s does not parse: %v", p, err)
		}
		out = append(out, filepath.Base(filepath.Dir(p)))
	}
	sort.Strings(out)
	return out
}

func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out[strings.TrimPrefix(p, dir)] = simtest.FileSHA(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := d.Info(); err == nil {
				n += (st.Size() + 4095) / 4096 * 4096
			}
		}
		return nil
	})
	return n
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
