package s3_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports/transporttest"
)

var benchSize = transporttest.BenchSize(1 << 30)

// BenchmarkUploadVsTransferManager uploads the same file to the same
// versitygw with Upload (an opaque reader, span digests as backups use,
// parts on every core with their CRC32C, completion as the rename) and
// with the SDK's own transfer manager (the `aws s3 cp` of Go: a
// multipart upload from the file with its default 8 MiB parts, 5 at once
// and its CRC32 checksums), alternating, and reports each rate and the
// ratio upload/sdk.
func BenchmarkUploadVsTransferManager(b *testing.B) {
	srv := testservers.VersityGW(b)
	bucket := srv.Bucket(b, false)
	src := transporttest.SourceFile(b, benchSize)
	tr := openS3(b, srv, "s3://"+bucket+"/bench", nil)
	tm := transfermanager.New(srv.Client)
	ctx := context.Background()
	var tUp, tSDK, cUp time.Duration
	sdk := func() {
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		start := time.Now()
		_, err = tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String("bench/sdk.bin"), Body: f})
		tSDK += time.Since(start)
		if err != nil {
			b.Fatalf("transfer manager: %v", err)
		}
	}
	up := func() {
		w, c := transporttest.TimedUpload(b, ctx, tr, "up.bin", src)
		tUp, cUp = tUp+w, cUp+c
	}
	i := 0
	for b.Loop() {
		// alternate who goes first: the second one shares the disk with
		// the write-back of the first one's gigabyte
		if i%2 == 0 {
			sdk()
			up()
		} else {
			up()
			sdk()
		}
		i++
		for _, p := range []string{"up.bin", "sdk.bin"} {
			if err := tr.Remove(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(benchSize * 2)
	mibs := func(d time.Duration) float64 { return float64(b.N) * float64(benchSize) / (1 << 20) / d.Seconds() }
	b.ReportMetric(mibs(tUp), "upload-MiB/s")
	b.ReportMetric(mibs(tSDK), "sdk-MiB/s")
	b.ReportMetric(tSDK.Seconds()/tUp.Seconds(), "upload/sdk")
	b.ReportMetric(float64(cUp.Milliseconds())/float64(b.N)/(float64(benchSize)/(1<<30)), "upload-cpu-ms/GiB")
}
