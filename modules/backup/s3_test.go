package backup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/s3"
)

// s3URL is a URL of bucket on srv with the endpoint in its query, and the
// grant that covers it (a grant names the store: endpoint= is part of it).
func s3URL(srv *testservers.S3Server, bucket, prefix, query string) (url, grant string) {
	grant = fmt.Sprintf("s3://%s/%s?endpoint=%s", bucket, prefix, srv.Endpoint)
	url = fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1", bucket, prefix, srv.Endpoint)
	if query != "" {
		url += "&" + query
	}
	return url, grant
}

func TestRestoreIsByteExactOverS3(t *testing.T) {
	srv := testservers.VersityGW(t)
	bucket := srv.Bucket(t, false)
	url, grant := s3URL(srv, bucket, "backups", "")
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 8 << 20})
	roundTrip(t, e, url, "zstd", simtest.RunOptions{Args: []string{"cred=target"},
		Mod: withCredentials(t, grant, transports.Credentials{Name: "target", User: srv.AccessKey, Password: srv.SecretKey})})
	if out, err := srv.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}); err != nil || len(out.Uploads) != 0 {
		t.Errorf("multipart uploads left after the round trip: %v %v", out, err)
	}
}

// With object_lock=, a complete set's files are locked until the date its
// retention keeps it: the server refuses to delete them (even to the
// bucket's root account), and prune leaves the set, saying until when.
func TestObjectLockedSetsCannotBeDeletedAndPruneLeavesThem(t *testing.T) {
	srv := testservers.VersityGW(t)
	bucket := srv.Bucket(t, true)
	url, grant := s3URL(srv, bucket, "backups", "object_lock=compliance")
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 4 << 20})
	err, recs := e.Run(t, `
		local vm, backup, transport = require "vm", require "backup", require "transport"
		local t = transport.open(arg.target, { credentials = "target" })
		local v = vm.open("name:DB01")
		-- keep=N alone gives no date: refused before anything is written
		local ok, err = pcall(function() return v:backup{ to = t, keep = 3 } end)
		assert(not ok and err.code == "invalid_argument" and err.message:find("policy="), "keep alone: " .. tostring(err and err.message))
		assert(#backup.list{ at = t } == 0, "the refused backup wrote a set")
		local first = v:backup{ to = t, policy = { daily = 2 } }
		local second = v:backup{ to = t, mode = "full", policy = { daily = 2 } }
		-- keep=1 drops the first set, which is locked until the day after tomorrow
		local res = backup.prune{ at = t, vm = "DB01", keep = 1 }
		assert(#res.removed == 0, "prune removed a locked set: " .. tostring(res.removed[1] and res.removed[1].id))
		local why
		for _, k in ipairs(res.kept) do if k.id == first.id then why = k.reason end end
		assert(why and why:find("locked until") and why:find("compliance"), "the first set is kept because: " .. tostring(why))
		print("prune says: " .. why)
		assert(backup.verify{ at = t, set = first.id }.ok, "the locked set does not verify")
	`, simtest.RunOptions{Args: []string{"target=" + url},
		Mod: withCredentials(t, grant, transports.Credentials{Name: "target", User: srv.AccessKey, Password: srv.SecretKey})})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if !strings.Contains(recs.String(), "prune: locked, left until its date") {
		t.Errorf("prune did not log the locked set:\n%s", recs)
	}
	// the server refuses to delete any version of the sets' files
	ctx := context.Background()
	vs, err := srv.Client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String("backups/DB01/")})
	if err != nil {
		t.Fatal(err)
	}
	locked := 0
	for _, v := range vs.Versions {
		k := aws.ToString(v.Key)
		if strings.HasSuffix(k, "/") || strings.HasSuffix(k, "/.vmlua-lock") || strings.HasSuffix(k, "/progress.json") {
			continue
		}
		locked++
		if _, err := srv.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId}); err == nil {
			t.Errorf("the server deleted %s (version %s) of a locked set", k, aws.ToString(v.VersionId))
		}
	}
	if locked < 4 {
		t.Fatalf("only %d set files found to check", locked)
	}
}
