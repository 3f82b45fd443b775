package smb_test

import (
	"os/exec"
	"strconv"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

var benchSize = transporttest.BenchSize(1 << 30)

// BenchmarkUpload1GiB: transports.Upload of 1 GiB from an opaque reader to
// smbd on loopback (signing optional). Compare with BenchmarkSmbclientPut1GiB,
// run in the same `go test -bench` invocation.
func BenchmarkUpload1GiB(b *testing.B) {
	s := testservers.SMBD(b, testservers.SMBDOptions{})
	transporttest.Bench(b, transporttest.Target{
		Name: "smb",
		NewB: func(b *testing.B) transports.Transport { return open(b, s, freshDir(b, s)) },
	}, benchSize)
}

// BenchmarkSmbclientPut1GiB: Samba's own `smbclient put` of the same bytes
// to the same kind of server: the reference the transport is measured against.
func BenchmarkSmbclientPut1GiB(b *testing.B) {
	s := testservers.SMBD(b, testservers.SMBDOptions{})
	src := transporttest.SourceFile(b, benchSize)
	dir := freshDir(b, s)
	b.SetBytes(benchSize)
	for b.Loop() {
		cmd := exec.Command("smbclient", "//127.0.0.1/"+s.Share, "-p", strconv.Itoa(s.Port), "-U", s.User,
			"-c", "put "+src+" "+dir+"/bench.bin")
		cmd.Env = append(cmd.Environ(), "PASSWD="+s.Password) // not on the command line
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("smbclient put: %v\n%s", err, out)
		}
	}
}
