package testservers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Server is Versity's S3 gateway (versitygw, Apache-2.0) serving a
// directory of this machine (its posix backend: a bucket is a folder, an
// object a file), with versioning, so that buckets can have object lock.
// .ci/install-deps builds it from the Go module proxy at a pinned version.
type S3Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Port     int
	// AccessKey and SecretKey are the root account's.
	AccessKey, SecretKey string
	// DataDir holds one folder per bucket.
	DataDir string
	Daemon  *Daemon
	// Client is an S3 client of the root account, for tests to look at
	// what the server holds.
	Client *s3.Client
}

// VersityGW starts versitygw on a free port of 127.0.0.1 with fresh
// root credentials and an empty data directory. A missing versitygw
// fails the test.
func VersityGW(t testing.TB) *S3Server {
	t.Helper()
	dir := Dir(t)
	data, ver, iam := filepath.Join(dir, "data"), filepath.Join(dir, "versions"), filepath.Join(dir, "iam")
	for _, d := range []string{data, ver, iam} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &S3Server{Port: FreePort(t), AccessKey: "vmlua-" + randHex(4), SecretKey: randHex(16), DataDir: data}
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", s.Port)
	s.Daemon = Start(t, "versitygw", "versitygw",
		"--port", fmt.Sprintf("127.0.0.1:%d", s.Port),
		"--access", s.AccessKey, "--secret", s.SecretKey,
		"--iam-dir", iam, "--quiet",
		"posix", "--versioning-dir", ver, data)
	s.Daemon.WaitPort(t, s.Port, 30*time.Second)
	s.Client = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")})
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Bucket creates a bucket with a fresh name, with object lock (and so
// versioning) when lock is true, and returns its name.
func (s *S3Server) Bucket(t testing.TB, lock bool) string {
	t.Helper()
	name := "b-" + randHex(6)
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if lock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.Client.CreateBucket(context.Background(), in); err != nil {
		t.Fatalf("testservers: create bucket %s: %v\n%s", name, err, s.Daemon.Output())
	}
	return name
}

// Params are the transport options that reach this server
// (transports.Options.Params).
func (s *S3Server) Params() map[string]string {
	return map[string]string{"endpoint": s.Endpoint, "region": "us-east-1"}
}

// Kill ends the gateway at once.
func (s *S3Server) Kill() { s.Daemon.Kill() }

// User creates an account of role "user" (it owns nothing and may do
// only what bucket policies grant it) and returns its keys.
func (s *S3Server) User(t testing.TB) (access, secret string) {
	t.Helper()
	access, secret = "user-"+randHex(4), randHex(16)
	cmd := exec.Command("versitygw", "admin", "--access", s.AccessKey, "--secret", s.SecretKey, "--endpoint-url", s.Endpoint,
		"create-user", "--access", access, "--secret", secret, "--role", "user")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testservers: versitygw admin create-user: %v\n%s", err, out)
	}
	return access, secret
}

// Policy sets bucket's policy (a JSON bucket policy document).
func (s *S3Server) Policy(t testing.TB, bucket, policy string) {
	t.Helper()
	if _, err := s.Client.PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("testservers: put the policy of %s: %v\n%s", bucket, err, policy)
	}
}

// AppendOnlyPolicy is the bucket policy of docs/transports.md (s3) for a
// backup account under prefix: it may write, read, list and lock, and
// delete nothing but its lock files (which hold no backup data). Create
// the prefix's folder with the owner's keys first: versitygw does not
// match "prefix/" with "prefix/*".
func AppendOnlyPolicy(bucket, prefix, account string) string {
	return strings.NewReplacer("BUCKET", bucket, "PREFIX", prefix, "BACKUP", account).Replace(`{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "BackupWrites", "Effect": "Allow", "Principal": {"AWS": ["BACKUP"]},
     "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObjectRetention", "s3:PutObjectRetention", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::BUCKET/PREFIX/*"]},
    {"Sid": "BackupLists", "Effect": "Allow", "Principal": {"AWS": ["BACKUP"]},
     "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning", "s3:ListBucketMultipartUploads"],
     "Resource": ["arn:aws:s3:::BUCKET"]},
    {"Sid": "BackupRemovesItsLockOnly", "Effect": "Allow", "Principal": {"AWS": ["BACKUP"]},
     "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
     "Resource": ["arn:aws:s3:::BUCKET/PREFIX/*/.vmlua-lock", "arn:aws:s3:::BUCKET/PREFIX/*/.vmlua-lock.break"]}
  ]
}`)
}

// Folder makes the folder marker "prefix/" in bucket with the owner's keys.
func (s *S3Server) Folder(t testing.TB, bucket, prefix string) {
	t.Helper()
	if _, err := s.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + "/"), Body: strings.NewReader("")}); err != nil {
		t.Fatalf("testservers: make the folder %s/%s: %v", bucket, prefix, err)
	}
}
