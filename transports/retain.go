package transports

import (
	"context"
	"errors"
	"time"
)

// Retainer is an optional interface of a transport whose server can make
// a file immutable until a date: neither deleted nor overwritten, by
// anyone (S3 Object Lock: compliance mode; governance mode lets holders of
// a bypass permission through). Backups lock a complete set's files until
// the date its retention policy keeps it at the earliest
// (retention.KeepUntil), and prune leaves a locked set alone, saying
// until when. Find it under a run's wrappers with As; a dry run must not
// call Retain (check IsDryRun).
type Retainer interface {
	// RetentionMode is the lock mode the transport was opened with
	// ("governance" or "compliance"), or "" when it locks nothing.
	RetentionMode() string
	// MinRetention is the shortest time a set is locked for whatever its
	// policy says (the transport's lock_days option); 0 when none.
	MinRetention() time.Duration
	// Retain locks the file p until until in RetentionMode. A lock is
	// only ever extended: an earlier until than the file's is refused by
	// the server in compliance mode.
	Retain(ctx context.Context, p string, until time.Time) error
	// RetainedUntil is the date p is locked until and its mode; a zero
	// time when it is not locked.
	RetainedUntil(ctx context.Context, p string) (until time.Time, mode string, err error)
}

// ErrLocked is wrapped by the error of a delete or overwrite the server
// refused because the file is locked (Retainer). It is a permission
// error: retrying cannot help before the lock's date.
var ErrLocked = errors.New("the file is locked against deletion (object lock)")
