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
//
// Only regular files are opened: Open and Create refuse a directory, named
// pipe, device or socket (transports.ErrNotRegular) after a look, and open
// with O_NONBLOCK and check the descriptor again, so a file swapped for a
// FIFO meanwhile cannot block either.
//
// Exclusive create (transports.ExclusiveCreator, the backup lock): the
// content is written and synced under a temporary name, then hard-linked
// to its name with link(2), which fails with EEXIST when anything is there
// (atomic on local file systems and on NFS and SMB mounts). A file system
// without hard links falls back to open(2) with O_EXCL, equally exclusive
// but briefly empty.
//
// Option create (default true): make the URL's folder and its parents.
package file
