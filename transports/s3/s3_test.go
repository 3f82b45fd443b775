package s3_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/s3"
	"github.com/vmlua/vmlua/transports/transporttest"
)

// creds are the server's root keys as a named credential.
func creds(srv *testservers.S3Server) transports.Credentials {
	return transports.Credentials{Name: "test-s3", User: srv.AccessKey, Password: srv.SecretKey}
}

func opts(srv *testservers.S3Server) transports.Options {
	return transports.Options{Credentials: creds(srv), Params: srv.Params()}
}

var fresh int

func target(t *testing.T, lock bool) transporttest.Target {
	srv := testservers.VersityGW(t)
	bucket := srv.Bucket(t, lock)
	return transporttest.Target{
		Name: "s3",
		Fresh: func(t *testing.T) transporttest.Fresh {
			fresh++
			return transporttest.Fresh{URL: fmt.Sprintf("s3://%s/t-%d", bucket, fresh), Options: opts(srv),
				NoDir: "an S3 store serves objects, not files of a file system: a named pipe cannot be made through it"}
		},
		Kill: func(t *testing.T) { srv.Kill() },
	}
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, target(t, false))
}

// A bucket with object lock keeps versions: Remove must delete them all,
// or a removed lock's key would stay taken (If-None-Match fails on a key
// whose newest version is a delete marker, on this server).
func TestConformanceVersionedBucketWithObjectLock(t *testing.T) {
	transporttest.Run(t, target(t, true))
}

func TestURLParams(t *testing.T) {
	srv := testservers.VersityGW(t)
	bucket := srv.Bucket(t, false)
	// The options are checked before anything is dialled. The endpoint is
	// given in the options (the query's would be shadowed by it, and
	// without one the region's AWS host would be looked up, off this
	// machine): endpoint= and region= (any name is a region on a store
	// other than AWS) are checked by TestRegionAndEndpointFromQuery.
	o := transports.Options{Credentials: creds(srv), Params: map[string]string{"endpoint": srv.Endpoint}}
	transporttest.URLParams(t, "s3://"+bucket+"/p", o, "endpoint", "region")
}

func ctx() context.Context { return context.Background() }
