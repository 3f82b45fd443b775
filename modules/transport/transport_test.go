package transport_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/modules/log"
	"github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/file"
)

// run executes a Lua script with the transport module, granted dir.
func run(t *testing.T, dir, src string, mod func(*runtime.Options)) (error, string) {
	t.Helper()
	var buf bytes.Buffer
	opts := runtime.Options{
		Logger:  slog.New(slog.NewTextHandler(&buf, nil)),
		Modules: []*runtime.Module{log.Module, transport.Module},
		Timeout: 30 * time.Second,
		Args:    []string{"url=file://" + dir},
		Credentials: map[string]transports.Credentials{
			"nas": {User: "backup", Password: "Sup3r-S3cret-PW"},
		},
	}
	if err := opts.Grants.Allow("file://" + dir); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&opts)
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r.ExecString("t.lua", src), buf.String()
}

func TestTransportModule(t *testing.T) {
	cases := []struct {
		name, script string
		wantErr      string // "" = the script's own asserts must pass
		check        func(t *testing.T, dir string)
	}{
		{"round trip of a small file", `
			local transport = require "transport"
			local t = transport.open(arg.url)
			t:mkdir("a/b")
			local res = t:write("a/b/notes.txt", "hello")
			assert(res.bytes == 5 and res.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", res.sha256)
			assert(t:read("a/b/notes.txt") == "hello")
			local st = t:stat("a/b/notes.txt")
			assert(st.name == "notes.txt" and st.size == 5 and st.dir == false and st.mtime > 0)
			assert(t:stat("a/b/missing") == nil)
			local l = t:list("a/b")
			assert(#l == 1 and l[1].name == "notes.txt")
			t:rename("a/b/notes.txt", "a/renamed.txt")
			assert(t:read("a/renamed.txt") == "hello")
			t:remove("a/renamed.txt")
			assert(t:stat("a/renamed.txt") == nil)
			assert(tostring(t):find("Transport%(file://"))
			assert(t.url:sub(1, 7) == "file://")
		`, "", func(t *testing.T, dir string) {
			if _, err := os.Stat(filepath.Join(dir, "a", "b")); err != nil {
				t.Errorf("directory a/b missing: %v", err)
			}
		}},
		{"list is sorted and marks directories", `
			local t = require("transport").open(arg.url)
			t:write("b.txt", "b"); t:write("a.txt", "a"); t:mkdir("c")
			local l = t:list()
			assert(l[1].name == "a.txt" and l[2].name == "b.txt" and l[3].name == "c" and l[3].dir)
		`, "", nil},
		{"a path out of the root is refused", `require("transport").open(arg.url):write("../escape.txt", "x")`, "invalid_argument", func(t *testing.T, dir string) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.txt")); err == nil {
				t.Error("a file was written outside the root")
			}
		}},
		{"an ungranted URL is refused", `require("transport").open("file:///etc")`, "not_granted: file:///etc is not granted", nil},
		{"a URL with a password is refused", `require("transport").open("sftp://u:pw@host/x")`, "not_granted", nil},
		{"unknown credentials are refused", `require("transport").open(arg.url, {credentials = "nope"})`, `credentials "nope" are not configured`, nil},
		{"reading a missing file is not_found", `require("transport").open(arg.url):read("nope")`, "not_found", nil},
		{"write of more than 16 MiB is refused", `require("transport").open(arg.url):write("big", string.rep("x", 17*1024*1024))`, "small files only", nil},
		{"a handle's fields cannot be changed", `require("transport").open(arg.url).url = "x"`, "read-only", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err, logs := run(t, dir, tc.script, nil)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("script failed: %v\n%s", err, logs)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, dir)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if transports.IsTemp(e.Name()) {
					t.Errorf("a temporary file was left: %s", e.Name())
				}
			}
		})
	}
}

func TestTransportModuleDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	err, logs := run(t, dir, `
		local t = require("transport").open(arg.url)
		t:mkdir("x"); t:write("x/a.txt", "data")
	`, func(o *runtime.Options) { o.DryRun = true })
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("dry run wrote %v", entries)
	}
	if !strings.Contains(logs, "would") {
		t.Errorf("dry run did not log what it would do: %s", logs)
	}
}

// A granted URL carrying a password is an invalid argument (not a
// transport failure), and so is one that does not parse; the error says
// to use named credentials. One outside the grants is not_granted. No
// error shows the password.
func TestAURLWithAPasswordIsAnInvalidArgumentThatNeverShowsIt(t *testing.T) {
	const pw = "Secr3t-Pw"
	grant := func(o *runtime.Options) {
		if err := o.Grants.Allow("sftp://backup@127.0.0.1:1/backups"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, url, want string }{
		{"a granted URL", "sftp://backup:" + pw + "@127.0.0.1:1/backups/db01", "invalid_argument"},
		{"a URL that does not parse", "sftp://backup:" + pw + "%zz@127.0.0.1:1/backups", "invalid_argument"},
		{"a URL not granted", "sftp://backup:" + pw + "@nas.example.com/backups", "not_granted"},
		{"a password with an @ in it", "sftp://backup:" + pw + "@x@127.0.0.1:1/backups", "invalid_argument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err, logs := run(t, t.TempDir(), `require("transport").open(`+strconv.Quote(c.url)+`)`, grant)
			if err == nil {
				t.Fatal("the URL was opened")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q: want %s", msg, c.want)
			}
			if c.want == "invalid_argument" && !strings.Contains(msg, "credentials=NAME") {
				t.Errorf("error %q does not say to use credentials=NAME", msg)
			}
			if strings.Contains(msg+logs, pw) {
				t.Errorf("the password shows:\n%s\n%s", msg, logs)
			}
			t.Logf("user sees: %s", msg)
		})
	}
}

// Reading a directory as a file is a clear error at once, not five tries
// with back-off: with a 3 s --timeout the run used to end by its timeout
// (exit 4) instead of saying what was wrong.
func TestReadingAFolderFailsAtOnceWithTheReasonNotByTheTimeout(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "set"), 0o755); err != nil {
		t.Fatal(err)
	}
	err, logs := run(t, dir, `require("transport").open(arg.url):read("set")`, func(o *runtime.Options) { o.Timeout = 3 * time.Second })
	if err == nil || !strings.Contains(err.Error(), "invalid_argument") || !strings.Contains(err.Error(), "set is a directory: not a regular file") {
		t.Fatalf("t:read of a folder = %v, want invalid_argument saying it is a directory", err)
	}
	if strings.Contains(logs, "retrying") {
		t.Errorf("the read was retried:\n%s", logs)
	}
}
