package backup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// appendOnlyPolicy is docs/security.md's bucket policy for the backup
// host's account: it may write, read, list and lock, and delete nothing
// but its lock files (which hold no backup data).
const appendOnlyPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "BackupWrites", "Effect": "Allow", "Principal": {"AWS": ["BACKUP"]},
     "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObjectRetention", "s3:PutObjectRetention", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::BUCKET/backups/*"]},
    {"Sid": "BackupLists", "Effect": "Allow", "Principal": {"AWS": ["BACKUP"]},
     "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:ListBucketMultipartUploads"],
     "Resource": ["arn:aws:s3:::BUCKET"]},
    {"Sid": "BackupRemovesItsLockOnly", "Effect": "Allow", "Principal": {"AWS": ["BACKUP"]},
     "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
     "Resource": ["arn:aws:s3:::BUCKET/backups/*/.vmlua-lock", "arn:aws:s3:::BUCKET/backups/*/.vmlua-lock.break"]}
  ]
}`

// The backup host's credentials cannot delete a backup: with the
// append-only policy, backup (twice: the lock is released and taken
// again), verify and restore work, prune with those credentials is
// refused by the server, and prune with other credentials (another host's,
// --credentials) removes what the retention drops.
func TestAnAppendOnlyTargetTakesBackupsAndOnlyOtherCredentialsPrune(t *testing.T) {
	srv := testservers.VersityGW(t)
	bucket := srv.Bucket(t, true)
	access, secret := srv.User(t)
	srv.Policy(t, bucket, strings.NewReplacer("BUCKET", bucket, "BACKUP", access).Replace(appendOnlyPolicy))
	// the operator makes the prefix's folder with the admin credentials
	// (versitygw's policies do not match "backups/" with "backups/*")
	if _, err := srv.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("backups/"), Body: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}
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
