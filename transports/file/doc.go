// Package file is the file:// transport: a directory on a local (or
// locally mounted) file system, file:///abs/path.
//
// Durability: Writer.Close fsyncs the file before closing it, and Rename
// fsyncs the destination directory (and the source one when different), so
// an upload that Upload reported as done survives a crash.
//
// Containment: every path is resolved through an os.Root opened on the
// transport's directory (openat-style, one component at a time). A path
// that leaves the root — "..", an absolute path, or a symlink inside the
// root that points outside it, for reads and for writes — fails with
// transports.ErrOutsideRoot; symlinks that stay inside the root are
// followed. Files are created 0640 and directories 0750 (before umask),
// since backups hold whole disks.
package file
