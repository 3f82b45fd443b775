package nfs_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/nfs"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testservers.StopShared()
	os.Exit(code)
}

var seq atomic.Int64

func open(t testing.TB, rawURL string) transports.Transport {
	t.Helper()
	tr, err := transports.Open(context.Background(), rawURL, transports.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", rawURL, err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// fresh makes an empty folder under the server's test directory and
// returns the URL of it.
func fresh(t testing.TB, s *testservers.NFSServer) string {
	t.Helper()
	return freshDir(t, s).URL
}

// freshDir makes an empty folder under the server's test directory.
func freshDir(t testing.TB, s *testservers.NFSServer) transporttest.Fresh {
	t.Helper()
	name := "d" + strconv.FormatInt(seq.Add(1), 10)
	if err := os.Mkdir(s.DataDir+"/"+name, 0o777); err != nil {
		t.Fatal(err)
	}
	p := strings.TrimPrefix(s.Path+"/"+name, "/")
	return transporttest.Fresh{URL: fmt.Sprintf("nfs://%s:%d%s/%s?mountport=%d", s.Host, s.Port, s.Export, p, s.MountPort), Dir: s.DataDir + "/" + name}
}

func TestConformanceAgainstGanesha(t *testing.T) {
	s := testservers.Ganesha(t)
	transporttest.Run(t, transporttest.Target{
		Name:  "nfs-ganesha",
		Fresh: func(t *testing.T) transporttest.Fresh { return freshDir(t, testservers.Ganesha(t)) },
		Full:  func(t *testing.T) transports.Transport { return open(t, fresh(t, testservers.GaneshaSmall(t))) },
		Kill:  func(t *testing.T) { s.Kill() },
	})
}

func TestConformanceAgainstGoNFS(t *testing.T) {
	s := testservers.GoNFS(t)
	transporttest.Run(t, transporttest.Target{
		Name:  "go-nfs",
		Fresh: func(t *testing.T) transporttest.Fresh { return freshDir(t, s) },
		Full: func(t *testing.T) transports.Transport {
			return open(t, fresh(t, testservers.GoNFSWith(t, testservers.GoNFSOptions{DiskSize: 8 << 20})))
		},
		Kill: func(t *testing.T) { s.Kill() },
	})
}

func TestAMissingExportIsNamedInTheError(t *testing.T) {
	for name, s := range map[string]*testservers.NFSServer{"ganesha": testservers.Ganesha(t), "go-nfs": testservers.GoNFS(t)} {
		t.Run(name, func(t *testing.T) {
			u := fmt.Sprintf("nfs://%s:%d/nosuchexport/x?mountport=%d", s.Host, s.Port, s.MountPort)
			_, err := transports.Open(context.Background(), u, transports.Options{})
			if err == nil || !strings.Contains(err.Error(), "no export matching /nosuchexport/x") || !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Open of a missing export = %v, want a clear 'no export' error", err)
			}
			t.Logf("user sees: %v", err)
		})
	}
}

func TestTheMountPortIsFoundThroughThePortmapper(t *testing.T) {
	s := testservers.Ganesha(t)
	u := fmt.Sprintf("nfs://%s:%d%s/%s", s.Host, s.Port, s.Export, s.Path)
	tr := open(t, u)
	if _, err := tr.List(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}
