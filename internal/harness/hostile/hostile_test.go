package hostile

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
	_ "github.com/vmlua/vmlua/transports/all"
)

const simPassword = "hostile-Sim-Pa55"

// world is one simulator and one granted file:// target shared by every
// case, laid out so that any escape lands somewhere the test looks:
//
//	root/target    granted (file://root/target), with symlinks to outside
//	root/outside   a sentinel folder that must never change
//	root/ds        the simulator's datastores (LocalDS_0, LocalDS_1)
type world struct {
	sim     *vsim.Sim
	ep      runtime.Endpoint
	root    string
	target  string
	outside string
	dsDir   string
}

func startWorld(t *testing.T) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{root: root, target: filepath.Join(root, "target"), outside: filepath.Join(root, "outside"), dsDir: filepath.Join(root, "ds")}
	for _, d := range []string{w.target, w.outside, w.dsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.outside, "secret.txt"), []byte("outside the grant"), 0o644); err != nil {
		t.Fatal(err)
	}
	// symlinks inside the granted folder that lead out of it
	for name, to := range map[string]string{
		"escape":   w.outside,                              // a folder
		"link.txt": filepath.Join(w.outside, "secret.txt"), // a file
		"etc":      "/etc",                                 // an absolute system folder
		"relup":    "../outside",                           // a relative link upwards
		"dangling": filepath.Join(w.outside, "new.txt"),    // a file that does not exist yet
	} {
		if err := os.Symlink(to, filepath.Join(w.target, name)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := vsim.Start(context.Background(), vsim.Options{
		Password: simPassword, DatastoreDir: w.dsDir, WriteRate: 20,
		Inventory: []vsim.VMSpec{{Name: "H01", Disks: []vsim.DiskSpec{{Size: 1 << 20}}}, {Name: "H02", Disks: []vsim.DiskSpec{{Size: 1 << 20}}, PoweredOff: true}},
	})
	if err != nil {
		t.Fatalf("vsim.Start: %v", err)
	}
	t.Cleanup(s.Close)
	u := *s.URL
	u.User = nil
	w.sim = s
	w.ep = runtime.Endpoint{Name: "sim", URL: u.String(), Username: s.URL.User.Username(), Password: simPassword, Insecure: true}
	return w
}

func (w *world) dest() string { return "file://" + w.target }

// run runs a script with every vmlua module, the target granted and passed
// as arg.dest.
func (w *world) run(t *testing.T, script string, mod func(*runtime.Options)) error {
	t.Helper()
	opts := runtime.Options{
		Logger:    slog.New(slog.DiscardHandler),
		Modules:   all.Modules(),
		Timeout:   30 * time.Second,
		Endpoints: map[string]runtime.Endpoint{"sim": w.ep}, DefaultEndpoint: "sim",
		Args: []string{"dest=" + w.dest()},
	}
	if err := opts.Grants.Allow(w.dest()); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&opts)
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r.ExecString("hostile.lua", script)
}

// snapshot lists every path under root with its size, except inside the
// granted target and inside the datastores themselves (where a script may
// legitimately write), and /etc/x.
func (w *world) snapshot(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(w.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(w.root, p)
		if rel == "target" || strings.HasPrefix(filepath.Dir(rel), "ds/LocalDS_") || rel == "ds/LocalDS_0" || rel == "ds/LocalDS_1" {
			out = append(out, rel)
			if d.IsDir() && rel != "." && rel != "ds" {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, rel+" "+info.Mode().String()+" "+string(rune('0'+info.Size()%10)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/x", "/tmp/vmlua-hostile-pwned"} {
		if _, err := os.Lstat(p); err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func errCode(err error) string {
	var se *runtime.ScriptError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}
