package transport_test

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/runtime"
	_ "github.com/vmlua/vmlua/transports/s3"
)

// TestWhereATransportConnectsIsGranted: an s3:// grant names the store
// (endpoint=) and the AWS profile as well as the bucket, so a script
// cannot send a granted bucket's data, signed with the site's keys, to
// another server by setting endpoint= in its options or the URL. The
// refusals happen before anything is opened (nothing listens on the
// granted endpoint's port).
func TestWhereATransportConnectsIsGranted(t *testing.T) {
	grant := func(o *runtime.Options) {
		if err := o.Grants.Allow("s3://backups/vmlua?endpoint=http://127.0.0.1:1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, call, want string }{
		{"another endpoint in the options", `transport.open("s3://backups/vmlua", {endpoint = "http://127.0.0.2:9000"})`, "not_granted"},
		{"another endpoint in the URL", `transport.open("s3://backups/vmlua?endpoint=http://127.0.0.2:9000")`, "not_granted"},
		{"no endpoint (AWS itself)", `transport.open("s3://backups/vmlua")`, "not_granted"},
		{"a profile the grant does not name", `transport.open("s3://backups/vmlua?endpoint=http://127.0.0.1:1", {profile = "prod"})`, "not_granted"},
		{"the endpoint given twice, differently", `transport.open("s3://backups/vmlua?endpoint=http://127.0.0.1:1", {endpoint = "http://127.0.0.2:9000"})`, "given twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err, _ := run(t, t.TempDir(), `local transport = require "transport"; `+c.call, grant)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %s", err, c.want)
			}
		})
	}
	// the granted endpoint, in the options or the URL, passes the grant
	// (and then fails to connect: nothing listens on port 1; named
	// credentials keep the AWS SDK from asking EC2's metadata address)
	for _, call := range []string{
		`transport.open("s3://backups/vmlua/db01", {endpoint = "http://127.0.0.1:1", credentials = "nas"})`,
		`transport.open("s3://backups/vmlua/db01?endpoint=http://127.0.0.1:1/", {credentials = "nas"})`,
	} {
		err, _ := run(t, t.TempDir(), `local transport = require "transport"; `+call, grant)
		if err != nil && strings.Contains(err.Error(), "not_granted") {
			t.Errorf("%s: refused as not granted: %v", call, err)
		}
	}
}
