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
// WRITE, default and cap the server's wtmax, at most 1 MiB).
package nfs
