package s3

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

func TestRegionAndEndpointFromQuery(t *testing.T) {
	cases := []struct {
		name, raw string
		params    map[string]string
		want      Config
		wantErr   string
	}{
		{"the query's region and endpoint are read, path style follows the endpoint", "s3://bkt/a/b?region=eu-central-1&endpoint=http://127.0.0.1:9000", nil,
			Config{Bucket: "bkt", Prefix: "a/b", Region: "eu-central-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true}, ""},
		{"the run's options win over the query", "s3://bkt?region=eu-central-1", map[string]string{"region": "us-west-2"},
			Config{Bucket: "bkt", Region: "us-west-2"}, ""},
		{"path_style=false keeps virtual-host addressing with an endpoint", "s3://bkt/p?endpoint=https://s3.example.net&path_style=false", nil,
			Config{Bucket: "bkt", Prefix: "p", Endpoint: "https://s3.example.net"}, ""},
		{"an endpoint that is no URL is refused, named", "s3://bkt/p?endpoint=vmlua-invalid-value", nil, Config{}, "endpoint="},
		{"a region with capitals or dots is refused, named", "s3://bkt/p?region=EU.1", nil, Config{}, "region="},
		{"a port on the bucket is refused", "s3://bkt:9000/p", nil, Config{}, "bucket name alone"},
		{"a prefix that climbs is refused", "s3://bkt/a/../b", nil, Config{}, "not a clean path"},
		{"memory below two parts is refused", "s3://bkt/p?part_size=16MiB&memory=16MiB", nil, Config{}, "memory="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := url.Parse(c.raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseURL(u, transports.Options{Params: c.params})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("parseURL(%s) = %v, want an error with %q", c.raw, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Bucket != c.want.Bucket || got.Prefix != c.want.Prefix || got.Region != c.want.Region || got.Endpoint != c.want.Endpoint || got.PathStyle != c.want.PathStyle {
				t.Fatalf("parseURL(%s) = %+v, want %+v", c.raw, got, c.want)
			}
		})
	}
}

func TestPartSizesGrowWithinMemory(t *testing.T) {
	cfg := Config{PartSize: defaultPartSize, Memory: defaultMemory}
	for _, c := range []struct {
		part int
		want int64
	}{{1, 8 << 20}, {1000, 8 << 20}, {1001, 16 << 20}, {2001, 24 << 20}, {10000, 24 << 20}} {
		if got := partSizeOf(cfg, c.part); got != c.want {
			t.Errorf("part %d: %d bytes, want %d", c.part, got, c.want)
		}
	}
	if got := MaxObject(cfg) >> 30; got != 210 {
		t.Errorf("the largest object with the defaults is %d GiB, want 210 (docs/transports.md says so)", got)
	}
	big := Config{PartSize: defaultPartSize, Memory: 256 << 20}
	if got := MaxObject(big) >> 30; got < 800 {
		t.Errorf("with memory=256MiB the largest object is %d GiB", got)
	}
	t.Logf("largest object: %d GiB with the defaults, %d GiB with memory=256MiB", MaxObject(cfg)>>30, MaxObject(big)>>30)
}
