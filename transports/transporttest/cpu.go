package transporttest

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/transports"
)

// CPUTime is the user+sys CPU time used so far by this process
// (syscall.RUSAGE_SELF) or by its waited-for children
// (syscall.RUSAGE_CHILDREN): benchmarks compare it with a reference
// client's, which is steadier than wall time on a shared machine.
func CPUTime(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TimedUpload uploads the local file src to name on tr with
// transports.Upload with span digests (what backups and exports use),
// through an opaque reader, and returns the wall time
// and this process's CPU time it took.
func TimedUpload(tb testing.TB, ctx context.Context, tr transports.Transport, name, src string) (wall, cpu time.Duration) {
	tb.Helper()
	f, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	c0, start := CPUTime(syscall.RUSAGE_SELF), time.Now()
	_, err = transports.Upload(ctx, tr, name, Opaque(f), transports.UploadOptions{Spans: true})
	wall, cpu = time.Since(start), CPUTime(syscall.RUSAGE_SELF)-c0
	if err != nil {
		tb.Fatal(err)
	}
	return wall, cpu
}
