package scripts_test

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/s3"
)

// nightly.lua to=s3://…?object_lock=compliance with a GFS retention and
// prune=false (an append-only target): every set is written, verified and
// locked, nothing is pruned; with keep= alone the backups are refused.
func TestNightlyToS3WithObjectLock(t *testing.T) {
	env := simtest.Start(t, vsim.Options{DiskSize: 4 << 20})
	srv := testservers.VersityGW(t)
	bucket := srv.Bucket(t, true)
	grant := "s3://" + bucket + "/vmlua?endpoint=" + srv.Endpoint
	url := grant + "&object_lock=compliance"
	site := simtest.Site{Endpoint: env.Endpoint, Allow: []string{grant},
		Creds: map[string]transports.Credentials{"s3-backup": {Name: "s3-backup", User: srv.AccessKey, Password: srv.SecretKey}}}

	lines, err := site.Run(t, "nightly.lua", "to="+url, "credentials=s3-backup", "vms=name:VM1", "daily=7", "weekly=4", "prune=false")
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
	}
	if !simtest.Contains(lines, "1 VM(s), 1 target(s): 1 set(s) written, 0 failed, 0 partial, 0 pruned") {
		t.Errorf("summary:\n%s", strings.Join(lines, "\n"))
	}
	if n := site.Verified(t, url, "s3-backup"); n["VM1"] != 1 {
		t.Errorf("verified sets = %v", n)
	}

	lines, err = site.Run(t, "nightly.lua", "to="+url, "credentials=s3-backup", "vms=name:VM1", "keep=3")
	if err == nil {
		t.Fatalf("nightly with keep= alone on an object-locked target succeeded:\n%s", strings.Join(lines, "\n"))
	}
	// (the log says why: modules/backup's TestObjectLockedSets... checks
	// the message names policy=)
	if !simtest.Contains(lines, "0 set(s) written, 1 failed") {
		t.Errorf("summary:\n%s", strings.Join(lines, "\n"))
	}
}

// nightly.lua on an append-only target: the backup account writes, and
// prune_credentials= names the keys that may delete. Without them the
// night's prune is refused by the store and the run fails, saying so.
func TestNightlyPrunesAnAppendOnlyTargetWithItsPruneCredentials(t *testing.T) {
	env := simtest.Start(t, vsim.Options{DiskSize: 4 << 20})
	srv := testservers.VersityGW(t)
	bucket := srv.Bucket(t, false)
	access, secret := srv.User(t)
	srv.Folder(t, bucket, "vmlua")
	srv.Policy(t, bucket, testservers.AppendOnlyPolicy(bucket, "vmlua", access))
	grant := "s3://" + bucket + "/vmlua?endpoint=" + srv.Endpoint
	url := grant
	site := simtest.Site{Endpoint: env.Endpoint, Allow: []string{grant}, Creds: map[string]transports.Credentials{
		"s3-backup": {Name: "s3-backup", User: access, Password: secret},
		"s3-admin":  {Name: "s3-admin", User: srv.AccessKey, Password: srv.SecretKey},
	}}
	args := []string{"to=" + url, "credentials=s3-backup", "vms=name:VM1", "keep=1", "mode=full"}
	if lines, err := site.Run(t, "nightly.lua", args...); err != nil {
		t.Fatalf("first night: %v\n%s", err, strings.Join(lines, "\n"))
	}
	// the second night's prune with the backup account is refused
	lines, err := site.Run(t, "nightly.lua", args...)
	if err == nil || !simtest.Contains(lines, "1 set(s) written, 1 failed") {
		t.Fatalf("a prune with the backup account = %v:\n%s", err, strings.Join(lines, "\n"))
	}
	lines, err = site.Run(t, "nightly.lua", append(args, "prune_credentials=s3-admin")...)
	if err != nil {
		t.Fatalf("third night: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if !simtest.Contains(lines, "1 set(s) written, 0 failed, 0 partial, 2 pruned") {
		t.Errorf("summary:\n%s", strings.Join(lines, "\n"))
	}
	if n := site.Verified(t, url, "s3-backup"); n["VM1"] != 1 {
		t.Errorf("sets left = %v, want the newest", n)
	}
}
