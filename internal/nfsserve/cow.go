package nfsserve

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"
)

// cow is a flat disk copied on write: blocks written live in f (a sparse
// file as large as the disk), the others are read from base.
type cow struct {
	base io.ReaderAt
	size int64
	f    *os.File
	mu   sync.Mutex
	bits []uint64
}

func (c *cow) has(b int64) bool { return c.bits[b/64]&(1<<(b%64)) != 0 }
func (c *cow) set(b int64)      { c.bits[b/64] |= 1 << (b % 64) }

func (c *cow) written() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// ReadAt reads the disk as written so far.
func (c *cow) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > c.size-off {
		p, eof = p[:c.size-off], io.EOF
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := 0; n < len(p); {
		at := off + int64(n)
		b := at / Block
		m := int(min(int64(len(p)-n), (b+1)*Block-at))
		var err error
		if c.has(b) {
			_, err = c.f.ReadAt(p[n:n+m], at)
		} else {
			_, err = c.base.ReadAt(p[n:n+m], at)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		n += m
	}
	return len(p), eof
}

// WriteAt writes into the scratch file, copying a block's untouched part
// from the set first.
func (c *cow) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > c.size {
		return 0, fmt.Errorf("a write at %d of %d bytes is outside the disk (%d bytes)", off, len(p), c.size)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var blk []byte
	for n := 0; n < len(p); {
		at := off + int64(n)
		b := at / Block
		start := b * Block
		m := int(min(int64(len(p)-n), start+Block-at))
		if !c.has(b) && (at != start || m != Block) {
			if blk == nil {
				blk = make([]byte, Block)
			}
			k := min(Block, c.size-start)
			if _, err := c.base.ReadAt(blk[:k], start); err != nil && !errors.Is(err, io.EOF) {
				return n, err
			}
			copy(blk[at-start:], p[n:n+m])
			if _, err := c.f.WriteAt(blk[:k], start); err != nil {
				return n, err
			}
		} else if _, err := c.f.WriteAt(p[n:n+m], at); err != nil {
			return n, err
		}
		c.set(b)
		n += m
	}
	return len(p), nil
}

// cowFile is an open flat disk.
type cowFile struct {
	name string
	c    *cow
	off  int64
}

func (f *cowFile) Name() string                            { return f.name }
func (f *cowFile) ReadAt(p []byte, off int64) (int, error) { return f.c.ReadAt(p, off) }
func (f *cowFile) Read(p []byte) (int, error) {
	n, err := f.c.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}
func (f *cowFile) Write(p []byte) (int, error) {
	n, err := f.c.WriteAt(p, f.off)
	f.off += int64(n)
	return n, err
}
func (f *cowFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += f.off
	case io.SeekEnd:
		off += f.c.size
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	f.off = off
	return off, nil
}
func (f *cowFile) Close() error  { return nil }
func (f *cowFile) Lock() error   { return nil }
func (f *cowFile) Unlock() error { return nil }
func (f *cowFile) Truncate(n int64) error {
	if n == f.c.size {
		return nil
	}
	return fmt.Errorf("%s: a disk of the restore point keeps its size (%d bytes)", f.name, f.c.size)
}
