// Package nfs is the nfs:// transport: NFSv3 over TCP, in user space (no
// kernel mount), through github.com/willscott/go-nfs-client for the
// metadata calls and this package's own pipelined WRITE/COMMIT for uploads
// and READ for downloads.
//
// URL form:
//
//	nfs://host[:port]/export/path[?mountport=N]
//
// port is the NFS port (default 2049). The MOUNT service is found through
// the portmapper on port 111 unless mountport is given (then no portmapper
// is needed; servers such as go-nfs serve MOUNT on the NFS port itself).
// The export is the longest leading part of the path the server agrees to
// mount; the rest is a folder inside it. An export the server does not
// have is reported as such, with the paths that were tried.
//
// Auth: AUTH_UNIX (AUTH_SYS) with the uid and gid given by the "uid" and
// "gid" params (default 0, root; the export must not squash root, or use
// the uid that owns the target folder). No password is involved.
//
// Uploads: the library's File.Write sends one FILE_SYNC WRITE at a time
// (about 56 MiB/s to nfs-ganesha here). This package's Writer streams
// UNSTABLE WRITEs of the server's maximum size over its own TCP connection
// with up to "inflight" requests outstanding, then one COMMIT at Close, and
// checks the write verifier so a server restart during the upload fails it
// instead of losing data silently. Memory per stream is one chunk (a whole
// chunk handed to Write goes out from the caller's buffer, uncopied).
//
// Downloads: the library's File.Read has one READ outstanding at a time.
// Open keeps 8 READs of the server's rtmax (at most 1 MiB) outstanding on
// its own connection and hands their data out in order (at most 8 MiB per
// stream); BenchmarkOpenVsLibraryReader compares the two.
//
// Params: mountport, uid, gid, inflight (default 16), chunk (bytes per
// WRITE, default and cap the server's wtmax, at most 1 MiB), create
// (default true: make the URL's folder inside the export).
//
// Only regular files are opened (by their NFS type: a FIFO would read as
// an empty file). NFS3ERR statuses the library leaves bare (ACCES, ISDIR,
// NOTDIR, NAMETOOLONG, NOTEMPTY, ROFS) are mapped for
// transports.Classify, so they are not retried.
//
// Exclusive create (transports.ExclusiveCreator, the backup lock, in
// exclusive.go): the content is written and committed under a temporary
// name, then hard-linked to its name with LINK, which the server refuses
// with NFS3ERR_EXIST when anything is there, atomically (open(2)'s manual
// gives this technique for NFS); a lost reply is recognised by the
// temporary file's link count. A server without hard links (NFS3ERR_NOTSUPP,
// or go-nfs, whose LINK decodes its arguments as SYMLINK's) gets a guard
// made with SYMLINK (atomic as symlink(2)) under
// transports.CreateExclusiveGuarded. CREATE in GUARDED mode is not used:
// go-nfs checks for the name and creates the file in two steps, so two
// clients can both succeed, and the file would be empty until written.
package nfs
