package main

import (
	"os/exec"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
)

// BenchmarkStartup: 'vmlua run' of a trivial script as a process, the way
// cron starts it (goal < 30 ms).
func BenchmarkStartup(b *testing.B) {
	bin := simtest.Binary(b)
	for b.Loop() {
		if out, err := exec.Command(bin, "run", "../../examples/hello.lua").CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}
