package pointread

import (
	"container/list"
	"context"
	"sync"

	"github.com/vmlua/vmlua/internal/spansum"
)

// Cache keeps verified stored spans and decoded frames, least recently
// used out first, within a bound of memory. One load runs per key at a
// time: readers of the same span wait for it. Failed loads are not kept
// (the next read tries again). It is safe for concurrent use; Disks may
// share one (Options.Cache).
type Cache struct {
	mu   sync.Mutex
	max  int64
	used int64
	m    map[key]*entry
	lru  list.List // of *entry, most recent first; loaded entries only
}

type entry struct {
	k    key
	done chan struct{}
	b    []byte
	err  error
	el   *list.Element
	// refs counts the readers using b (under Cache.mu); an entry evicted
	// while in use gives its buffer back when the last one releases it.
	refs    int
	evicted bool
}

// NewCache returns a cache of at most max bytes (0: DefaultCache); it
// keeps at least four spans' worth, what a read across two frames needs.
func NewCache(bound int64) *Cache {
	if bound <= 0 {
		bound = DefaultCache
	}
	return &Cache{max: max(bound, 4*spansum.Size), m: map[key]*entry{}}
}

// has reports whether k is loaded or being loaded.
func (c *Cache) has(k key) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok
}

// get returns k's bytes, loading them with load once, and the function
// to call once done with them (the buffer is reused after that, when the
// entry has left the cache).
func (c *Cache) get(ctx context.Context, k key, load func() ([]byte, error)) ([]byte, func(), error) {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		if e.el != nil {
			c.lru.MoveToFront(e.el)
		}
		e.refs++
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			c.release(e)
			return nil, func() {}, ctx.Err()
		}
		return e.b, func() { c.release(e) }, e.err
	}
	e := &entry{k: k, done: make(chan struct{}), refs: 1}
	c.m[k] = e
	c.mu.Unlock()

	e.b, e.err = load()
	c.mu.Lock()
	if e.err != nil {
		delete(c.m, k)
	} else {
		e.el = c.lru.PushFront(e)
		c.used += int64(cap(e.b))
		for c.used > c.max && c.lru.Len() > 1 {
			old := c.lru.Remove(c.lru.Back()).(*entry)
			delete(c.m, old.k)
			c.used -= int64(cap(old.b))
			old.evicted = true
			if old.refs == 0 {
				putBuf(old.b)
				old.b = nil
			}
		}
	}
	c.mu.Unlock()
	close(e.done)
	return e.b, func() { c.release(e) }, e.err
}

// release ends a reader's use of e's bytes.
func (c *Cache) release(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.evicted && e.b != nil {
		putBuf(e.b)
		e.b = nil
	}
}

// bufs keeps span-sized buffers (spansum.Size: a stored span, a decoded
// frame) for the next loads: allocating one zeroed cost as much as
// reading it.
var bufs sync.Pool

// getBuf returns a buffer of n bytes (content undefined).
func getBuf(n int64) []byte {
	if n <= spansum.Size {
		if b, ok := bufs.Get().(*[]byte); ok {
			return (*b)[:n]
		}
		return make([]byte, n, spansum.Size)
	}
	return make([]byte, n)
}

// putBuf gives a buffer getBuf made back.
func putBuf(b []byte) {
	if cap(b) == spansum.Size {
		b = b[:cap(b)]
		bufs.Put(&b)
	}
}

// Used is the memory the cache holds now.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
