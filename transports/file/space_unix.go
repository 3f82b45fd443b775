//go:build unix

package file

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/vmlua/vmlua/transports"
)

var _ transports.SpaceReporter = (*Transport)(nil)

// FreeSpace implements transports.SpaceReporter: the bytes available to
// this user on the file system holding p (fstatfs's f_bavail), opened
// inside the root as every other path.
func (t *Transport) FreeSpace(ctx context.Context, p string) (int64, error) {
	c, err := clean(p)
	if err != nil {
		return 0, t.wrap("free space of", p, err)
	}
	f, err := t.root.Open(c)
	if err != nil {
		return 0, t.wrap("free space of", p, err)
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return 0, t.wrap("free space of", p, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // the fields' types differ between platforms
}
