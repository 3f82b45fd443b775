package transports

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/vmlua/vmlua/internal/bwlimit"
)

// BwlimitOption documents the bwlimit option every scheme takes: the
// target's own bandwidth limit, shared by every stream to the target.
// modules/transport reads it (Bandwidth.Wrap); a scheme's Open ignores it.
var BwlimitOption = Option{Name: "bwlimit", Help: "bandwidth limit of this target, shared by every stream to it in the run (all disks and VMs in parallel), as rclone's --bwlimit: 10M (bytes/s, suffixes B K M G T P, binary), UP:DOWN (10M:off), off, or a timetable by local time \"08:00,512K 12:00,10M 23:00,off\"; default: the run's --bwlimit-target"}

// Bandwidth hands out a run's bandwidth limits (--bwlimit, --bwlimit-target
// and a target's bwlimit option): one pair of token buckets (upload,
// download) per target, shared by every stream to that target, and one
// pair for the whole run that every stream also draws from, so that the
// sum keeps to it. The runs of a fleet share one Bandwidth. Safe for
// concurrent use.
type Bandwidth struct {
	clock     bwlimit.Clock
	perTarget bwlimit.Schedule
	run       []*bwlimit.Bucket // up, down; nil without a run limit

	mu      sync.Mutex
	targets map[string]*targetBuckets
}

type targetBuckets struct {
	sched    bwlimit.Schedule
	up, down *bwlimit.Bucket
}

// NewBandwidth caps the run's total at run and each target at perTarget
// (zero schedules: no limit), on clock (nil: the wall clock).
func NewBandwidth(run, perTarget bwlimit.Schedule, clock bwlimit.Clock) *Bandwidth {
	b := &Bandwidth{clock: clock, perTarget: perTarget, targets: map[string]*targetBuckets{}}
	if !run.IsZero() {
		b.run = []*bwlimit.Bucket{bwlimit.NewBucket(run, bwlimit.Up, clock), bwlimit.NewBucket(run, bwlimit.Down, clock)}
	}
	return b
}

// Wrap returns t with its streams limited by the buckets of target key
// ("sftp://nas:22") and the run's. own is the target's bwlimit option
// ("" for none: the per-target default); the first stream to a target sets
// its limit for the run, and a different one given later for the same
// target is an error (two limits for one link cannot both hold).
func (b *Bandwidth) Wrap(t Transport, key, own string) (Transport, error) {
	sched := b.perTarget
	if own != "" {
		s, err := bwlimit.Parse(own)
		if err != nil {
			return nil, fmt.Errorf("bwlimit= of %s: %w", key, err)
		}
		sched = s
	}
	b.mu.Lock()
	tb, ok := b.targets[key]
	if !ok {
		tb = &targetBuckets{sched: sched}
		if !sched.IsZero() {
			tb.up, tb.down = bwlimit.NewBucket(sched, bwlimit.Up, b.clock), bwlimit.NewBucket(sched, bwlimit.Down, b.clock)
		}
		b.targets[key] = tb
	} else if own != "" && tb.sched.String() != sched.String() {
		b.mu.Unlock()
		return nil, fmt.Errorf("bwlimit=%s for %s: this run already limits that target to %s; give every transport.open of one target the same bwlimit", own, key, tb.sched)
	}
	b.mu.Unlock()
	up, down := tb.up, tb.down
	var ups, downs []*bwlimit.Bucket
	if up != nil {
		ups, downs = append(ups, up), append(downs, down)
	}
	if b.run != nil {
		ups, downs = append(ups, b.run[0]), append(downs, b.run[1])
	}
	if len(ups) == 0 {
		return t, nil
	}
	return &throttled{t: t, up: ups, down: downs}, nil
}

// Taken returns the bytes that passed target key's buckets so far
// (uploaded, downloaded).
func (b *Bandwidth) Taken(key string) (up, down int64) {
	b.mu.Lock()
	tb := b.targets[key]
	b.mu.Unlock()
	if tb == nil || tb.up == nil {
		return 0, 0
	}
	return tb.up.Taken(), tb.down.Taken()
}

// throttled is a transport whose uploads take from up and whose
// downloads take from down, a token per byte.
type throttled struct {
	t        Transport
	up, down []*bwlimit.Bucket
}

var _ Transport = (*throttled)(nil)

func (l *throttled) Unwrap() Transport { return l.t }
func (l *throttled) URL() string       { return l.t.URL() }
func (l *throttled) Close() error      { return l.t.Close() }

func (l *throttled) Stat(ctx context.Context, p string) (FileInfo, error) { return l.t.Stat(ctx, p) }
func (l *throttled) List(ctx context.Context, p string) ([]FileInfo, error) {
	return l.t.List(ctx, p)
}
func (l *throttled) MkdirAll(ctx context.Context, p string) error { return l.t.MkdirAll(ctx, p) }
func (l *throttled) Rename(ctx context.Context, from, to string) error {
	return l.t.Rename(ctx, from, to)
}
func (l *throttled) Remove(ctx context.Context, p string) error { return l.t.Remove(ctx, p) }

func (l *throttled) Create(ctx context.Context, p string) (Writer, error) {
	w, err := l.t.Create(ctx, p)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Writer
		finisher
	}{bwlimit.NewWriter(ctx, w, l.up...), w}, nil
}

func (l *throttled) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	r, err := l.t.Open(ctx, p, offset)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{bwlimit.NewReader(ctx, r, l.down...), r}, nil
}
