package transports

import "context"

// DirSyncDeferrer is implemented by transports whose Rename makes the new
// name durable by syncing the directory (file://). A writer of many files
// into one directory that makes them count only through a last one (a
// backup set and its catalog.json) can defer those syncs: Renames into
// dir then skip the directory sync until flush syncs it once and ends the
// deferral (later Renames sync again, so the last file's own Rename, after
// flush, is durable as always). flush is safe to call more than once;
// after the first call it does nothing.
type DirSyncDeferrer interface {
	DeferDirSync(dir string) (flush func(context.Context) error, err error)
}

// DeferDirSync defers the directory syncs of Renames into dir on t, or on
// the transport it wraps, when that transport makes them (see
// DirSyncDeferrer); otherwise, and for a dry run, flush does nothing. The
// caller must call flush before whatever makes the files count, and on
// failure too (to end the deferral).
func DeferDirSync(t Transport, dir string) (flush func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	if IsDryRun(t) {
		return none, nil
	}
	for t != nil {
		if d, ok := t.(DirSyncDeferrer); ok {
			return d.DeferDirSync(dir)
		}
		w, ok := t.(Wrapper)
		if !ok {
			break
		}
		t = w.Unwrap()
	}
	return none, nil
}
