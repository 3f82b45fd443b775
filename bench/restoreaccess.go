package main

import (
	"context"
	"fmt"
	"strconv"
)

// fig12: vmlua serve nbd's sequential read (nbdcopy to null:) of a
// point's disk, the chain applied and checked on the fly, against
// nbdcopy of the restored flat file (issue 27).
func (h *harness) fig12(ctx context.Context) []figure {
	const name = "cmd/vmlua/BenchmarkNBDSequentialReadVsFlatFile"
	size := pick[int64](h, 1<<30, 64<<20)
	rounds := pick(h, "3x", "1x")
	what := fmt.Sprintf("NBD sequential read of a point (full + incremental) of a %s disk vs reading the restored flat file", sizeText(size))
	res, _, err := h.goBench(ctx, []string{"VMLUA_BENCH_SIZE=" + strconv.FormatInt(size, 10)}, "^BenchmarkNBDSequentialReadVsFlatFile$", rounds, "./cmd/vmlua")
	nbd, e1 := get(res, name, "nbd_MiB/s")
	flat, e2 := get(res, name, "file_MiB/s")
	r, e3 := get(res, name, "nbd/file")
	idx, e4 := get(res, name, "index_ms")
	mem, e5 := get(res, name, "mem_MiB/s")
	if e := firstErr(err, e1, e2, e3, e4, e5); e != nil {
		return []figure{failed("12", what, e)}
	}
	return []figure{{ID: "12", What: what, Value: fmt.Sprintf("%.0f MiB/s", nbd), Baseline: fmt.Sprintf("%.0f MiB/s", flat), Ratio: r,
		RatioMeaning: "nbdcopy time of the flat file / nbdcopy time of the NBD export (the same reader, to null:)", Goal: "≥ 0.5×", Met: met(r >= 0.5),
		Note: fmt.Sprintf("`vmlua serve nbd` on the simulator's disk backed up as a full and an incremental (zstd); every span read is checked (against a keyed hash of what the index checked against the catalog's sha256); the flat file is what restore's reader (sets.OpenChain) rebuilds, zero blocks left as holes, in the page cache like the set's files; the index at start took %.0f ms (not in the time); the protocol's ceiling in the same run: the same image served from memory by the same NBD server, read the same way, %.0f MiB/s (%.2f× the flat file; the restore point's export reaches %.2f× of it); from `go test -bench %s -benchtime %s`", idx, mem, mem/flat, nbd/mem, name, rounds)}}
}

// fig13: from starting vmlua mount to debugfs printing a guest file out
// of the 5th incremental's point, against restoring that point to a flat
// file and running the same debugfs (issue 27).
func (h *harness) fig13(ctx context.Context) []figure {
	const name = "cmd/vmlua/BenchmarkMountToFirstByteOf5thIncremental"
	size := pick[int64](h, 4<<30, 64<<20)
	rounds := pick(h, "3x", "1x")
	what := fmt.Sprintf("vmlua mount to the first byte of a guest file of the 5th incremental's point of a %s disk vs restoring the point", sizeText(size))
	res, _, err := h.goBench(ctx, []string{"VMLUA_BENCH_SIZE=" + strconv.FormatInt(size, 10)}, "^BenchmarkMountToFirstByteOf5thIncremental$", rounds, "./cmd/vmlua")
	m, e1 := get(res, name, "mount_to_file_ms")
	rs, e2 := get(res, name, "restore_to_file_ms")
	fg, e3 := get(res, name, "files_get_ms")
	whatFiles := fmt.Sprintf("vmlua files get of a guest file of the 5th incremental's point of a %s disk vs restoring the point", sizeText(size))
	if e := firstErr(err, e1, e2); e != nil {
		return []figure{failed("13", what, e), failed("13b", whatFiles, e)}
	}
	files := figure{ID: "13b", What: whatFiles, Value: fmt.Sprintf("%.0f ms", fg), Baseline: fmt.Sprintf("%.0f ms (restore, then debugfs)", rs), Ratio: rs / fg,
		RatioMeaning: "time to restore the point to a flat file and read the file / time of `vmlua files get` to the file's bytes on stdout", Goal: "< 2 s", Met: met(fg < 2000),
		Note: fmt.Sprintf("the same point as 13; the time covers the vmlua process, resolving the point, indexing and checking the 6-layer chain as far as the reads need it, reading the GPT-less ext4 (go-ext4-filesystem) and the file's bytes to stdout; no FUSE, no guest tool; mean of %s", rounds)}
	if e3 != nil {
		files = failed("13b", whatFiles, e3)
	}
	return []figure{{ID: "13", What: what, Value: fmt.Sprintf("%.0f ms", m), Baseline: fmt.Sprintf("%.0f ms (restore, then debugfs)", rs), Ratio: rs / m,
		RatioMeaning: "time to restore the point to a flat file and read the file / time from `vmlua mount` to the file's bytes", Goal: "< 2 s", Met: met(m < 2000),
		Note: fmt.Sprintf("the disk: an ext4 of 64 MiB (half of it a random file) at its start, the simulator's data (3/4 of the blocks random) after it; a full and 5 incrementals each changing /etc/motd; the time covers the vmlua process, listing the point, the FUSE mount, indexing and checking the 6-layer chain (every stored byte read once) and `debugfs -R 'cat /etc/motd'` on the image; mean of %s; from `go test -bench %s`", rounds, name)}, files}
}
