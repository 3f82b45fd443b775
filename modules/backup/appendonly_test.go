package backup_test

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// The backup host's credentials cannot delete a backup: with the
// append-only policy, backup (twice: the lock is released and taken
// again), verify and restore work, prune with those credentials is
// refused by the server, and prune with other credentials (another host's,
// --credentials) removes what the retention drops.
func TestAnAppendOnlyTargetTakesBackupsAndOnlyOtherCredentialsPrune(t *testing.T) {
	srv := testservers.VersityGW(t)
	bucket := srv.Bucket(t, true)
	access, secret := srv.User(t)
	srv.Policy(t, bucket, testservers.AppendOnlyPolicy(bucket, "backups", access))
	srv.Folder(t, bucket, "backups") // the operator makes the prefix's folder with the owner's keys
	url, grant := s3URL(srv, bucket, "backups", "")
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 4 << 20})
	err, recs := e.Run(t, `
		local vm, backup, transport = require "vm", require "backup", require "transport"
		local t = transport.open(arg.target, { credentials = "backup-host" })
		local v = vm.open("name:DB01")
		local first = v:backup{ to = t }
		local second = v:backup{ to = t, mode = "full" }
		assert(backup.verify{ at = t, set = second.id }.ok, "verify")
		backup.restore{ from = t, set = first.id, datastore = "LocalDS_1", name = "DB01-copy" }
		local ok, err = pcall(backup.prune, { at = t, vm = "DB01", keep = 1 })
		assert(not ok, "prune with the backup host's credentials removed a set")
		print("prune with the backup credentials: " .. err.message)
		assert(err.message:find("vmlua prune %-%-credentials"), err.message)
		assert(#backup.list{ at = t, vm = "DB01" } == 2, "a set went missing")
		local admin = transport.open(arg.target, { credentials = "prune-host" })
		local res = backup.prune{ at = admin, vm = "DB01", keep = 1 }
		assert(#res.removed == 1 and res.removed[1].id == first.id, "prune with other credentials removed " .. #res.removed)
	`, simtest.RunOptions{Args: []string{"target=" + url}, Mod: func(o *runtime.Options) {
		if err := o.Grants.Allow(grant); err != nil {
			t.Fatal(err)
		}
		o.Credentials = map[string]transports.Credentials{
			"backup-host": {Name: "backup-host", User: access, Password: secret},
			"prune-host":  {Name: "prune-host", User: srv.AccessKey, Password: srv.SecretKey},
		}
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	for _, l := range strings.Split(recs.String(), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, "prune with") {
			t.Log(l)
		}
	}
}

// An SFTP account without delete rights (sftp-server -P remove,rmdir):
// backups night after night work (the lock, which cannot be removed, is
// renamed aside, which frees its name), as do verify and restore; a
// prune with that account is refused, and says to prune with others.
func TestAnSFTPAccountWithoutDeleteRightsTakesBackupsNightAfterNight(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := testservers.SSHDWith(t, testservers.SSHDOptions{SFTPFlags: "-P remove,rmdir"})
	url := srv.URL("sftp", srv.DataDir)
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 4 << 20})
	err, recs := e.Run(t, `
		local vm, backup, transport = require "vm", require "backup", require "transport"
		local t = transport.open(arg.target, { credentials = "target" })
		local v = vm.open("name:DB01")
		local first = v:backup{ to = t }
		local second = v:backup{ to = t, mode = "full" }
		local third = v:backup{ to = t, mode = "incremental" }
		assert(backup.verify{ at = t, set = third.id }.ok, "verify")
		backup.restore{ from = t, set = third.id, datastore = "LocalDS_1", name = "DB01-copy" }
		local ok, err = pcall(backup.prune, { at = t, vm = "DB01", keep = 1 })
		assert(not ok and err.message:find("vmlua prune %-%-credentials"), "prune: " .. tostring(err and err.message))
		assert(#backup.list{ at = t, vm = "DB01" } == 3, "a set went missing")
	`, simtest.RunOptions{Args: []string{"target=" + url},
		Mod: withCredentials(t, url, transports.Credentials{Name: "target", KeyFile: srv.ClientKeyFile, KnownHosts: srv.KnownHostsFile})})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if strings.Contains(recs.String(), "cannot remove the backup lock") {
		t.Errorf("a lock was left behind:\n%s", recs)
	}
}
