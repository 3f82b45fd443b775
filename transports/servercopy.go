package transports

import "context"

// ServerCopier is an optional interface of a transport whose server can
// copy a virtual disk into it by itself, without the disk's bytes passing
// through vmlua (as rclone's fs.Copier lets a backend copy on its
// server): the vmfs:// transport does, with vSphere's
// VirtualDiskManager.CopyVirtualDisk (the book's `vmkfstools -e target -d
// vmfs source`). Destination paths are the transport's own; a source is a
// path of the server's ("[LocalDS_0] DB01/DB01.vmdk"). Find one under a
// transport's wrappers with ServerCopierOf.
type ServerCopier interface {
	Transport
	// SameServer reports whether session (the run's session, as the
	// Options.Env[EnvVSphere] a transport is opened with) talks to the
	// server this transport writes to: only then can that session's disks
	// be copied here.
	SameServer(session any) bool
	// CopyVirtualDisk copies the disk whose descriptor is src to dst (a
	// ".vmdk" name), descriptor and extents, failing if dst exists. It is
	// not atomic: copy to a temporary folder and MoveVirtualDisk into
	// place. A cancelled ctx cancels the server's copy.
	CopyVirtualDisk(ctx context.Context, src, dst string) error
	// MoveVirtualDisk moves a disk (descriptor and extents), replacing one
	// at to.
	MoveVirtualDisk(ctx context.Context, from, to string) error
	// RemoveAll deletes a file or a folder with everything in it; a
	// missing one is not an error.
	RemoveAll(ctx context.Context, p string) error
}

// ServerCopierOf returns t, or the transport under its wrappers
// (Wrapper), as a ServerCopier of session's server; nil when it is none,
// or one of another server.
func ServerCopierOf(t Transport, session any) ServerCopier {
	if sc, ok := As[ServerCopier](t); ok && sc.SameServer(session) {
		return sc
	}
	return nil
}
