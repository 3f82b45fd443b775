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

// get returns k's bytes, loading them with load once.
func (c *Cache) get(ctx context.Context, k key, load func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		if e.el != nil {
			c.lru.MoveToFront(e.el)
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return e.b, e.err
	}
	e := &entry{k: k, done: make(chan struct{})}
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
		}
	}
	c.mu.Unlock()
	close(e.done)
	return e.b, e.err
}

// Used is the memory the cache holds now.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
