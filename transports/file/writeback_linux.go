package file

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to the
// disk now, without waiting (sync_file_range SYNC_FILE_RANGE_WRITE): the
// final fsync then finds most of the file already written instead of
// flushing all of it after the last byte. Errors are ignored: fsync
// reports what matters.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
