package s3

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
)

// List pages through a folder with the continuation token: with 7 keys a
// page, 40 files and 3 folders come back whole, each once.
func TestListFollowsTheContinuationToken(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, false)
	ctx := context.Background()
	tr, err := Dial(ctx, Config{Bucket: b, Prefix: "p", Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1",
		Credentials: transports.Credentials{User: srv.AccessKey, Password: srv.SecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.listPage = 7
	var want []string
	for i := range 40 {
		n := fmt.Sprintf("f%02d", i)
		want = append(want, n)
		if err := transports.CreateExclusive(ctx, tr, n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"d1/x", "d2/y", "d3"} {
		want = append(want, d[:2])
		if err := tr.MkdirAll(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// the store does page at 7 keys (else this would test nothing)
	first, err := tr.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b), Prefix: aws.String("p/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(7)})
	if err != nil || !aws.ToBool(first.IsTruncated) || len(first.Contents)+len(first.CommonPrefixes) > 7 {
		t.Fatalf("the store did not page: %v", err)
	}
	l, err := tr.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fi := range l {
		got = append(got, fi.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("List with 7 keys a page = %d entries %q, want %d", len(got), got, len(want))
	}
}
