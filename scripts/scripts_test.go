package scripts_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
)

const simPassword = "sim-Pa55word-for-scripts"

// startSim starts the embedded simulator and returns the endpoint a run
// connects to.
func startSim(t *testing.T, o vsim.Options) runtime.Endpoint {
	t.Helper()
	o.Password = simPassword
	s, err := vsim.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("vsim.Start: %v", err)
	}
	t.Cleanup(s.Close)
	u := *s.URL
	u.User = nil
	return runtime.Endpoint{Name: "sim", URL: u.String(), Username: s.URL.User.Username(), Password: simPassword, Insecure: true}
}

// printed collects what a script prints (print writes log records with
// source=print).
type printed struct {
	mu    sync.Mutex
	lines []string
}

func (h *printed) Enabled(context.Context, slog.Level) bool { return true }
func (h *printed) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" && a.Value.String() == "print" {
			h.mu.Lock()
			h.lines = append(h.lines, r.Message)
			h.mu.Unlock()
		}
		return true
	})
	return nil
}
func (h *printed) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *printed) WithGroup(string) slog.Handler      { return h }

// run executes a shipped script with every module, as 'vmlua run' does.
func run(t *testing.T, ep runtime.Endpoint, script string, args ...string) ([]string, error) {
	t.Helper()
	out := &printed{}
	r, err := runtime.New(runtime.Options{
		Logger:    slog.New(out),
		Modules:   all.Modules(),
		Timeout:   60 * time.Second,
		Endpoints: map[string]runtime.Endpoint{"sim": ep}, DefaultEndpoint: "sim",
		Args: args,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.ExecFile(script)
	out.mu.Lock()
	defer out.mu.Unlock()
	return append([]string(nil), out.lines...), err
}

// fields parses one vm_info.lua line: tab-separated key:value pairs.
func fields(t *testing.T, line string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range strings.Split(line, "\t") {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			t.Fatalf("field %q of %q is not key:value", f, line)
		}
		m[k] = v
	}
	for _, k := range []string{"moref", "name", "uuid", "ipaddr", "power", "host", "vmx"} {
		if m[k] == "" {
			t.Errorf("line %q lacks %s", line, k)
		}
	}
	return m
}

func TestVMInfoFindsVMsBySpecifierAndPrintsOneLineEach(t *testing.T) {
	ep := startSim(t, vsim.Options{Inventory: []vsim.VMSpec{{Name: "DB01"}, {Name: "web-1"}, {Name: "web-2"}, {Name: "OLD", PoweredOff: true}}})
	cases := []struct {
		name  string
		args  []string
		names []string // the VMs printed, in order
		code  string   // error code, "" for success
	}{
		{"without a specifier it lists every VM", nil, []string{"DB01", "OLD", "web-1", "web-2"}, ""},
		{"any: lists every VM", []string{"any:"}, []string{"DB01", "OLD", "web-1", "web-2"}, ""},
		{"a name glob lists the matching VMs", []string{"name:web-*"}, []string{"web-1", "web-2"}, ""},
		{"spec= works like the positional argument", []string{"spec=name:DB01"}, []string{"DB01"}, ""},
		{"powerstate:off lists the VMs that are off", []string{"powerstate:off"}, []string{"OLD"}, ""},
		{"a .vmx path names one VM", []string{"[LocalDS_0] DB01/DB01.vmx"}, []string{"DB01"}, ""},
		{"none: prints nothing and succeeds", []string{"none:"}, nil, ""},
		{"a specifier matching nothing fails with not_found", []string{"name:nosuch"}, nil, runtime.CodeNotFound},
		{"a .vmx path of no VM fails with not_found", []string{"[LocalDS_0] nosuch/nosuch.vmx"}, nil, runtime.CodeNotFound},
		{"a malformed specifier fails with invalid_argument", []string{"bogus:x"}, nil, runtime.CodeInvalidArg},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := run(t, ep, "vm_info.lua", tc.args...)
			if tc.code != "" {
				var se *runtime.ScriptError
				if !errors.As(err, &se) || se.Code != tc.code {
					t.Fatalf("err = %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("vm_info.lua %v: %v", tc.args, err)
			}
			var names []string
			for _, l := range lines {
				names = append(names, fields(t, l)["name"])
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Errorf("printed VMs %v, want %v\n%s", names, tc.names, strings.Join(lines, "\n"))
			}
		})
	}
}

// TestVMInfoPrintsSpecifiersThatFindTheSameVM: each key:value it prints for
// moref and uuid is itself a specifier naming the VM, as with vcbVmName.
func TestVMInfoPrintsSpecifiersThatFindTheSameVM(t *testing.T) {
	ep := startSim(t, vsim.Options{})
	lines, err := run(t, ep, "vm_info.lua", "name:DB01")
	if err != nil || len(lines) != 1 {
		t.Fatalf("vm_info.lua name:DB01 = %v, %v", lines, err)
	}
	db := fields(t, lines[0])
	if db["power"] != "on" || db["vmx"] != "[LocalDS_0] DB01/DB01.vmx" || !strings.HasPrefix(db["moref"], "vm-") {
		t.Errorf("DB01's line = %q", lines[0])
	}
	for _, key := range []string{"moref", "uuid"} {
		again, err := run(t, ep, "vm_info.lua", key+":"+db[key])
		if err != nil || len(again) != 1 || again[0] != lines[0] {
			t.Errorf("vm_info.lua %s:%s = %v, %v; want the same line %q", key, db[key], again, err, lines[0])
		}
	}
}
