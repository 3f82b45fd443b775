package examples_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vmlua/vmlua/internal/guestfs/guestfstest"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/all"
	_ "github.com/vmlua/vmlua/transports/ftp"
	_ "github.com/vmlua/vmlua/transports/nfs"
	_ "github.com/vmlua/vmlua/transports/sftp"
	_ "github.com/vmlua/vmlua/transports/smb"
)

// TestEveryExampleRunsAsWritten runs each example of examples/ against one
// simulator, with its remote targets on real servers on loopback (OpenSSH
// with a pinned host key, Samba, vsftpd with TLS, an NFSv3 server), and
// checks what it should have done.
func TestEveryExampleRunsAsWritten(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	dsDir := t.TempDir()
	env := simtest.Start(t, vsim.Options{DiskSize: 8 << 20, DatastoreDir: dsDir})
	sim := env.Sim
	lib, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}

	sshd := testservers.SSHD(t)
	smbd := testservers.SMBD(t, testservers.SMBDOptions{})
	ftpd := testservers.VSFTPD(t, true)
	nfsd := testservers.GoNFS(t)
	s3d := testservers.VersityGW(t)
	lockBucket := s3d.Bucket(t, true)

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
	s3Grant := "s3://" + lockBucket + "/vmlua?endpoint=" + s3d.Endpoint
	s3URL := s3Grant + "&object_lock=compliance"

	s := simtest.Site{
		Endpoint: env.Endpoint,
		Lib:      lib,
		Allow: []string{"file://" + dir + "/", "vmfs://LocalDS_1/vmlua", sftpURL, smbURL, ftpsURL,
			fmt.Sprintf("nfs://%s:%d%s/vm", nfsd.Host, nfsd.Port, nfsd.Export), s3Grant},
		Creds: map[string]transports.Credentials{
			// host_key = "SHA256:..." in the config: the pinned key
			"nas-sftp":  {Name: "nas-sftp", KeyFile: sshd.ClientKeyFile, HostKey: sshd.HostKeyFingerprint},
			"winshare":  {Name: "winshare", User: smbd.User, Password: smbd.Password},
			"ftpbackup": {Name: "ftpbackup", Password: ftpd.User.Password},
			"s3-backup": {Name: "s3-backup", User: s3d.AccessKey, Password: s3d.SecretKey},
		},
	}

	siteKey, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
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
				if !simtest.Contains(lines, "Hello, world!") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "question_rules answers a single-choice question when a run installs it",
			script: "question_rules.lua",
			check: func(t *testing.T, _ []string) {
				if _, err := sim.Ask("VM2", "Proceed?", "OK"); err != nil {
					t.Fatal(err)
				}
				lines := s.RunLua(t, `
local question = require "question"
question.policy(require "question_rules")
local r = question.watch{ vms = "name:VM2", timeout = 20, limit = 1 }
print("answered " .. r.answered)`)
				if !simtest.Contains(lines, "answered 1") || sim.PendingQuestion("VM2") != nil {
					t.Errorf("printed %q; VM2 pending: %+v", lines, sim.PendingQuestion("VM2"))
				}
			}},
		{name: "tiers backs every tier up on Sunday and every configuration daily",
			script: "tiers.lua", args: []string{"to=" + file("tiers"), "weekday=0"},
			check: func(t *testing.T, lines []string) {
				if n := s.Verified(t, file("tiers"), ""); n["DB01"] != 1 || n["VM1"] != 1 || n["VM2"] != 1 {
					t.Errorf("verified sets = %v, want one each of DB01, VM1, VM2", n)
				}
				if got := simtest.Glob(t, filepath.Join(dir, "tiers", "*", "vmx", "*.tar.gz")); len(got) != 3 {
					t.Errorf("configuration archives: %v, want 3", got)
				}
			}},
		{name: "hybrid takes the weekly image on its day and the configuration too",
			script: "hybrid.lua", args: []string{"to=" + file("hybrid"), "vms=name:VM1", "image_day=3", "weekday=3"},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "hybrid: 1 image(s), 1 configuration archive(s)") {
					t.Errorf("printed %q", lines)
				}
				if n := s.Verified(t, file("hybrid"), ""); n["VM1"] != 1 {
					t.Errorf("verified sets = %v", n)
				}
			}},
		{name: "cifs_windows_share backs up to Samba with named credentials",
			script: "cifs_windows_share.lua", args: []string{"to=" + smbURL, "vms=name:VM1", "credentials=winshare"},
			check: func(t *testing.T, lines []string) {
				if n := s.Verified(t, smbURL, "winshare"); n["VM1"] != 1 {
					t.Errorf("verified sets on the share = %v", n)
				}
			}},
		{name: "ftps backs up over explicit TLS and verifies over the wire",
			script: "ftps.lua", args: []string{"to=" + ftpsURL, "vms=name:VM2", "ca_file=" + ftpd.CAFile, "credentials=ftpbackup"},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, " verified") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "sftp_pinned_key backs up to OpenSSH whose host key is pinned",
			script: "sftp_pinned_key.lua", args: []string{"to=" + sftpURL, "vms=name:VM1", "credentials=nas-sftp"},
			check: func(t *testing.T, lines []string) {
				if n := s.Verified(t, sftpURL, "nas-sftp"); n["VM1"] != 1 {
					t.Errorf("verified sets over SFTP = %v", n)
				}
			}},
		{name: "nfs backs up to an NFSv3 export",
			script: "nfs.lua", args: []string{"to=" + nfsURL, "vms=name:VM2"},
			check: func(t *testing.T, lines []string) {
				if n := s.Verified(t, nfsURL, ""); n["VM2"] != 1 {
					t.Errorf("verified sets over NFS = %v", n)
				}
			}},
		{name: "vmfs_datastore copies the frozen disks on the server and keeps the newest run",
			script: "vmfs_datastore.lua", args: []string{"to=vmfs://LocalDS_1/vmlua", "vms=name:DB01", "keep=1"},
			before: func(t *testing.T) {
				if _, err := s.Run(t, "vmfs_datastore.lua", "to=vmfs://LocalDS_1/vmlua", "vms=name:DB01"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(1100 * time.Millisecond) // the runs' folders are named by the second
			},
			check: func(t *testing.T, lines []string) {
				runs := simtest.Glob(t, filepath.Join(dsDir, "LocalDS_1", "vmlua", "DB01", "2*"))
				if len(runs) != 1 {
					t.Fatalf("runs kept: %v, want 1", runs)
				}
				if got := simtest.Glob(t, filepath.Join(runs[0], "*.vmdk")); len(got) < 2 {
					t.Errorf("disks in %s: %v", runs[0], got)
				}
			}},
		{name: "s3_object_lock backs up to S3 and every set is locked against deletion",
			script: "s3_object_lock.lua", args: []string{"to=" + s3URL, "vms=name:VM2", "credentials=s3-backup"},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "verified and locked") {
					t.Errorf("printed %q", lines)
				}
				if n := s.Verified(t, s3URL, "s3-backup"); n["VM2"] != 1 {
					t.Errorf("verified sets on S3 = %v", n)
				}
				// the server refuses to delete the set's disk (a locked version)
				vs, err := s3d.Client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(lockBucket), Prefix: aws.String("vmlua/VM2/")})
				if err != nil {
					t.Fatal(err)
				}
				disks := 0
				for _, v := range vs.Versions {
					if !strings.Contains(aws.ToString(v.Key), "-flat.vmdk") {
						continue
					}
					disks++
					if _, err := s3d.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(lockBucket), Key: v.Key, VersionId: v.VersionId}); err == nil {
						t.Errorf("the server deleted %s of a locked set", aws.ToString(v.Key))
					}
				}
				if disks == 0 {
					t.Errorf("no disk image found under vmlua/VM2/ to check its lock")
				}
			}},
		{name: "nightly_s3 backs up to S3 encrypted to the site's public key, and only the private key authenticates and reads the sets",
			script: "nightly_s3.lua", args: []string{"to=" + s3URL, "vms=name:VM1", "credentials=s3-backup", "recipient=" + siteKey.Recipient().String()},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "VM1: ") || !simtest.Contains(lines, "encrypted, verified (stored bytes checked) and locked") {
					t.Errorf("printed %q", lines)
				}
				// the restore host: its identity authenticates the set
				// and decrypts every file of it
				rs := s
				rs.Ctx = sets.WithKeyring(context.Background(), &sets.Keyring{Identities: []age.Identity{siteKey}})
				got := rs.RunLua(t, `
local backup = require "backup"
for _, x in ipairs(backup.list{ at = arg.at, vm = "VM1", credentials = "s3-backup" }) do
  local r = backup.verify{ at = arg.at, set = x.id, credentials = "s3-backup" }
  print(x.id .. " " .. tostring(r.ok) .. " " .. tostring(r.encrypted) .. " " .. tostring(r.authenticated))
end`, "at="+s3URL)
				if len(got) != 1 || !strings.HasSuffix(got[0], " true true true") {
					t.Errorf("verify with the identity: %q", got)
				}
				// the wrapped key is locked like the rest of the set
				vs, err := s3d.Client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(lockBucket), Prefix: aws.String("vmlua/VM1/")})
				if err != nil {
					t.Fatal(err)
				}
				keys := 0
				for _, v := range vs.Versions {
					if !strings.HasSuffix(aws.ToString(v.Key), "/key.age") {
						continue
					}
					keys++
					if _, err := s3d.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(lockBucket), Key: v.Key, VersionId: v.VersionId}); err == nil {
						t.Errorf("the server deleted the wrapped key %s of a locked set", aws.ToString(v.Key))
					}
				}
				if keys != 1 {
					t.Errorf("%d wrapped keys under vmlua/VM1/, want 1", keys)
				}
			}},
		{name: "two_targets writes a set to each target",
			script: "two_targets.lua", args: []string{"local=" + file("local"), "offsite=" + sftpURL + "/offsite", "offsite_credentials=nas-sftp", "vms=name:VM2"},
			check: func(t *testing.T, lines []string) {
				if n := s.Verified(t, file("local"), ""); n["VM2"] != 1 {
					t.Errorf("verified local sets = %v", n)
				}
				if n := s.Verified(t, sftpURL+"/offsite", "nas-sftp"); n["VM2"] != 1 {
					t.Errorf("verified off-site sets = %v", n)
				}
			}},
		{name: "two_targets adapted to two file:// folders needs no credentials",
			script: "two_targets.lua", args: []string{"local=" + file("l2"), "offsite=" + file("o2"), "vms=name:VM1"},
			check: func(t *testing.T, lines []string) {
				for _, at := range []string{file("l2"), file("o2")} {
					if n := s.Verified(t, at, ""); n["VM1"] != 1 {
						t.Errorf("verified sets at %s = %v", at, n)
					}
				}
			}},
		{name: "power_off_backup backs up cold and powers the VM on again",
			script: "power_off_backup.lua", args: []string{"to=" + file("cold"), "vms=name:VM1"},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "the VM is on again") {
					t.Errorf("printed %q", lines)
				}
				if n := s.Verified(t, file("cold"), ""); n["VM1"] != 1 {
					t.Errorf("verified sets = %v", n)
				}
			}},
		{name: "test_restore_drill reads a guest file out of the latest set before it restores",
			script: "test_restore_drill.lua", args: []string{"from=" + file("drillfs"), "vm=VM2", "wait=1", "file=1:/etc/hostname", "contains=drill-host"},
			before: func(t *testing.T) {
				// VM2's disk holds a GPT and an ext4 file system, backed up
				d := guestfstest.New(t, "gpt", 8<<20, guestfstest.Part{FS: "ext4", Size: 6 << 20, Files: map[string]string{"etc/hostname": "drill-host\n"}})
				sim.PauseGuest("VM2")
				if _, err := sim.GuestWriteData("VM2", "scsi0:0", 0, d.Bytes()); err != nil {
					t.Fatal(err)
				}
				s.RunLua(t, `assert(require("vm").open("name:VM2"):backup{ to = "`+file("drillfs")+`" }.complete)`)
				sim.ResumeGuest("VM2")
			},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "file 1:/etc/hostname of VM2/") || !simtest.Contains(lines, "drill passed") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "test_restore_drill restores the latest set under another name, runs it, and removes it",
			script: "test_restore_drill.lua", args: []string{"from=" + file("tiers"), "vm=VM1", "wait=1"},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "drill passed") || !simtest.Contains(lines, "drill copy VM1-drill removed") {
					t.Errorf("printed %q", lines)
				}
				got := s.RunLua(t, `local v = require("vm").open("name:VM1-drill"); print(v and v.power or "missing")`)
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
			lines, err := s.Run(t, tc.script, tc.args...)
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
	for _, f := range simtest.Glob(t, "*.lua") {
		if !strings.Contains(string(src), `script: "`+f+`"`) {
			t.Errorf("%s has no case in TestEveryExampleRunsAsWritten", f)
		}
	}
}
