package examples_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/all"
	_ "github.com/vmlua/vmlua/transports/ftp"
	_ "github.com/vmlua/vmlua/transports/nfs"
	_ "github.com/vmlua/vmlua/transports/sftp"
	_ "github.com/vmlua/vmlua/transports/smb"
)

const simPassword = "sim-Pa55word-for-examples"

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

// site is what the operator configured: the simulator, grants, named
// credentials and the library directory.
type site struct {
	ep    runtime.Endpoint
	allow []string
	creds map[string]transports.Credentials
	lib   string
}

// run executes a Lua file as 'vmlua run' does and returns what it printed.
func (s *site) run(t *testing.T, script string, args ...string) ([]string, error) {
	t.Helper()
	out := &printed{}
	opts := runtime.Options{
		Logger:    slog.New(out),
		Modules:   all.Modules(),
		Timeout:   90 * time.Second,
		Endpoints: map[string]runtime.Endpoint{"sim": s.ep}, DefaultEndpoint: "sim",
		Args: args, Credentials: s.creds, LibDir: s.lib,
	}
	for _, a := range s.allow {
		if err := opts.Grants.Allow(a); err != nil {
			t.Fatal(err)
		}
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.ExecFile(script)
	out.mu.Lock()
	defer out.mu.Unlock()
	return append([]string(nil), out.lines...), err
}

// runLua runs a snippet written to a temporary file.
func (s *site) runLua(t *testing.T, src string, args ...string) []string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "snippet.lua")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := s.run(t, f, args...)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return lines
}

// verified returns, per VM, how many complete sets on the target verify,
// and fails the test for any that does not.
func (s *site) verified(t *testing.T, at, cred string) map[string]int {
	t.Helper()
	lines := s.runLua(t, `
local backup = require "backup"
local c = arg.credentials ~= "" and arg.credentials or nil
for _, x in ipairs(backup.list{ at = arg.at, credentials = c }) do
  local r = backup.verify{ at = arg.at, set = x.id, credentials = c }
  print(x.id .. " " .. tostring(x.complete and r.ok))
end`, "at="+at, "credentials="+cred)
	n := map[string]int{}
	for _, l := range lines {
		id, ok, _ := strings.Cut(l, " ")
		if ok != "true" {
			t.Errorf("set %s at %s does not verify", id, at)
			continue
		}
		vmName, _, _ := strings.Cut(id, "/")
		n[vmName]++
	}
	return n
}

func contains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEveryExampleRunsAsWritten runs each example of examples/ against one
// simulator, with its remote targets on real servers on loopback (OpenSSH
// with a pinned host key, Samba, vsftpd with TLS, an NFSv3 server), and
// checks what it should have done.
func TestEveryExampleRunsAsWritten(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	dsDir := t.TempDir()
	sim, err := vsim.Start(context.Background(), vsim.Options{DiskSize: 8 << 20, Password: simPassword, DatastoreDir: dsDir})
	if err != nil {
		t.Fatalf("vsim.Start: %v", err)
	}
	t.Cleanup(sim.Close)
	u := *sim.URL
	u.User = nil
	lib, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}

	sshd := testservers.SSHD(t)
	smbd := testservers.SMBD(t, testservers.SMBDOptions{})
	ftpd := testservers.VSFTPD(t, true)
	nfsd := testservers.GoNFS(t)

	// A remote target's folder must exist, as on a real NAS.
	for _, d := range []struct {
		path     string
		uid, gid int
	}{
		{filepath.Join(ftpd.DataDir, "vm"), ftpd.User.UID, ftpd.User.GID},
		{filepath.Join(sshd.DataDir, "offsite"), sshd.User.UID, sshd.User.GID},
		{filepath.Join(nfsd.DataDir, "vm"), os.Getuid(), os.Getgid()},
	} {
		if err := os.Mkdir(d.path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d.path, d.uid, d.gid); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	file := func(sub string) string { return "file://" + filepath.Join(dir, sub) }
	sftpURL := sshd.URL("sftp", sshd.DataDir)
	smbURL := fmt.Sprintf("smb://%s@%s/%s/VMBackups", smbd.User, smbd.Addr(), smbd.Share)
	ftpsURL := ftpd.URL() + "vm"
	nfsURL := fmt.Sprintf("nfs://%s:%d%s/vm?mountport=%d", nfsd.Host, nfsd.Port, nfsd.Export, nfsd.MountPort)

	s := &site{
		ep:  runtime.Endpoint{Name: "sim", URL: u.String(), Username: sim.URL.User.Username(), Password: simPassword, Insecure: true},
		lib: lib,
		allow: []string{"file://" + dir + "/", "vmfs://LocalDS_1/vmlua", sftpURL, smbURL, ftpsURL,
			fmt.Sprintf("nfs://%s:%d%s/vm", nfsd.Host, nfsd.Port, nfsd.Export)},
		creds: map[string]transports.Credentials{
			// host_key = "SHA256:..." in the config: the pinned key
			"nas-sftp":  {Name: "nas-sftp", KeyFile: sshd.ClientKeyFile, HostKey: sshd.HostKeyFingerprint},
			"winshare":  {Name: "winshare", User: smbd.User, Password: smbd.Password},
			"ftpbackup": {Name: "ftpbackup", Password: ftpd.User.Password},
		},
	}

	cases := []struct {
		name   string
		script string
		args   []string
		before func(t *testing.T)
		check  func(t *testing.T, lines []string)
	}{
		{name: "hello greets by name", script: "hello.lua", args: []string{"name=world"},
			check: func(t *testing.T, lines []string) {
				if !contains(lines, "Hello, world!") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "question_rules answers a single-choice question when a run installs it",
			script: "question_rules.lua",
			check: func(t *testing.T, _ []string) {
				if _, err := sim.Ask("VM2", "Proceed?", "OK"); err != nil {
					t.Fatal(err)
				}
				lines := s.runLua(t, `
local question = require "question"
question.policy(require "question_rules")
local r = question.watch{ vms = "name:VM2", timeout = 20, limit = 1 }
print("answered " .. r.answered)`)
				if !contains(lines, "answered 1") || sim.PendingQuestion("VM2") != nil {
					t.Errorf("printed %q; VM2 pending: %+v", lines, sim.PendingQuestion("VM2"))
				}
			}},
		{name: "tiers backs every tier up on Sunday and every configuration daily",
			script: "tiers.lua", args: []string{"to=" + file("tiers"), "weekday=0"},
			check: func(t *testing.T, lines []string) {
				if n := s.verified(t, file("tiers"), ""); n["DB01"] != 1 || n["VM1"] != 1 || n["VM2"] != 1 {
					t.Errorf("verified sets = %v, want one each of DB01, VM1, VM2", n)
				}
				if got := glob(t, filepath.Join(dir, "tiers", "*", "vmx", "*.tar.gz")); len(got) != 3 {
					t.Errorf("configuration archives: %v, want 3", got)
				}
			}},
		{name: "hybrid takes the weekly image on its day and the configuration too",
			script: "hybrid.lua", args: []string{"to=" + file("hybrid"), "vms=name:VM1", "image_day=3", "weekday=3"},
			check: func(t *testing.T, lines []string) {
				if !contains(lines, "hybrid: 1 image(s), 1 configuration archive(s)") {
					t.Errorf("printed %q", lines)
				}
				if n := s.verified(t, file("hybrid"), ""); n["VM1"] != 1 {
					t.Errorf("verified sets = %v", n)
				}
			}},
		{name: "cifs_windows_share backs up to Samba with named credentials",
			script: "cifs_windows_share.lua", args: []string{"to=" + smbURL, "vms=name:VM1"},
			check: func(t *testing.T, lines []string) {
				if n := s.verified(t, smbURL, "winshare"); n["VM1"] != 1 {
					t.Errorf("verified sets on the share = %v", n)
				}
			}},
		{name: "ftps backs up over explicit TLS and verifies over the wire",
			script: "ftps.lua", args: []string{"to=" + ftpsURL, "vms=name:VM2", "ca_file=" + ftpd.CAFile},
			check: func(t *testing.T, lines []string) {
				if !contains(lines, " verified") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "sftp_pinned_key backs up to OpenSSH whose host key is pinned",
			script: "sftp_pinned_key.lua", args: []string{"to=" + sftpURL, "vms=name:VM1"},
			check: func(t *testing.T, lines []string) {
				if n := s.verified(t, sftpURL, "nas-sftp"); n["VM1"] != 1 {
					t.Errorf("verified sets over SFTP = %v", n)
				}
			}},
		{name: "nfs backs up to an NFSv3 export",
			script: "nfs.lua", args: []string{"to=" + nfsURL, "vms=name:VM2"},
			check: func(t *testing.T, lines []string) {
				if n := s.verified(t, nfsURL, ""); n["VM2"] != 1 {
					t.Errorf("verified sets over NFS = %v", n)
				}
			}},
		{name: "vmfs_datastore copies the frozen disks on the server and keeps the newest run",
			script: "vmfs_datastore.lua", args: []string{"to=vmfs://LocalDS_1/vmlua", "vms=name:DB01", "keep=1"},
			before: func(t *testing.T) {
				if _, err := s.run(t, "vmfs_datastore.lua", "to=vmfs://LocalDS_1/vmlua", "vms=name:DB01"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(1100 * time.Millisecond) // the runs' folders are named by the second
			},
			check: func(t *testing.T, lines []string) {
				runs := glob(t, filepath.Join(dsDir, "LocalDS_1", "vmlua", "DB01", "2*"))
				if len(runs) != 1 {
					t.Fatalf("runs kept: %v, want 1", runs)
				}
				if got := glob(t, filepath.Join(runs[0], "*.vmdk")); len(got) < 2 {
					t.Errorf("disks in %s: %v", runs[0], got)
				}
			}},
		{name: "two_targets writes a set to each target",
			script: "two_targets.lua", args: []string{"local=" + file("local"), "offsite=" + sftpURL + "/offsite", "offsite_credentials=nas-sftp", "vms=name:VM2"},
			check: func(t *testing.T, lines []string) {
				if n := s.verified(t, file("local"), ""); n["VM2"] != 1 {
					t.Errorf("verified local sets = %v", n)
				}
				if n := s.verified(t, sftpURL+"/offsite", "nas-sftp"); n["VM2"] != 1 {
					t.Errorf("verified off-site sets = %v", n)
				}
			}},
		{name: "power_off_backup backs up cold and powers the VM on again",
			script: "power_off_backup.lua", args: []string{"to=" + file("cold"), "vms=name:VM1"},
			check: func(t *testing.T, lines []string) {
				if !contains(lines, "the VM is on again") {
					t.Errorf("printed %q", lines)
				}
				if n := s.verified(t, file("cold"), ""); n["VM1"] != 1 {
					t.Errorf("verified sets = %v", n)
				}
			}},
		{name: "test_restore_drill restores the latest set under another name, runs it, and removes it",
			script: "test_restore_drill.lua", args: []string{"from=" + file("tiers"), "vm=VM1", "wait=1"},
			check: func(t *testing.T, lines []string) {
				if !contains(lines, "drill passed") || !contains(lines, "drill copy VM1-drill removed") {
					t.Errorf("printed %q", lines)
				}
				got := s.runLua(t, `local v = require("vm").open("name:VM1-drill"); print(v and v.power or "missing")`)
				if len(got) != 1 || got[0] != "missing" {
					t.Errorf("VM1-drill after the drill: %q, want it gone", got)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			lines, err := s.run(t, tc.script, tc.args...)
			if err != nil {
				t.Fatalf("%s %v: %v\n%s", tc.script, tc.args, err, strings.Join(lines, "\n"))
			}
			tc.check(t, lines)
		})
	}
}

// TestEveryExampleIsTested: a new example needs a case above.
func TestEveryExampleIsTested(t *testing.T) {
	src, err := os.ReadFile("examples_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range glob(t, "*.lua") {
		if !strings.Contains(string(src), `script: "`+f+`"`) {
			t.Errorf("%s has no case in TestEveryExampleRunsAsWritten", f)
		}
	}
}
