package transporttest

import (
	"os"
	"strconv"
)

// BenchSize is the byte count the transports' benchmarks stream: def
// (1 GiB), or VMLUA_BENCH_SIZE when set, which bench/'s --short run uses to
// keep every figure computed in a few seconds.
func BenchSize(def int64) int64 {
	if n, err := strconv.ParseInt(os.Getenv("VMLUA_BENCH_SIZE"), 10, 64); err == nil && n > 0 {
		return n
	}
	return def
}
