// Package sftp is the sftp:// transport (alias scp://): files on an SSH
// server through its SFTP subsystem (OpenSSH's sftp-server or
// internal-sftp), with github.com/pkg/sftp over golang.org/x/crypto/ssh.
//
// URL forms:
//
//	sftp://user@host[:port]/absolute/path
//	scp://user@host[:port]/absolute/path
//	scp://user@host:/absolute/path      (vcbMounter's form: empty port = 22)
//	sftp://user@host/~/relative/path    (relative to the login directory)
//	sftp://user@host                    (the login directory)
//
// The user comes from the URL or, when the URL has none, from the
// credential's user. scp:// speaks SFTP too (as OpenSSH's scp does since
// 9.0): the server needs its sftp subsystem enabled.
//
// Authentication, tried in this order: the credential's key_file (an
// unencrypted OpenSSH or PEM private key; keep passphrase-protected keys in
// ssh-agent), the keys of a running ssh-agent (SSH_AUTH_SOCK), the
// credential's password. A refused login wraps transports.ErrAuth.
//
// The server's host key must be known: the credential gives known_hosts (an
// OpenSSH known_hosts file) or host_key (a pinned "SHA256:..." fingerprint,
// as ssh-keygen -lf prints it); with both, both must accept the key. With
// neither, Open refuses to connect. An unknown or changed key fails with
// transports.ErrAuth and a message carrying the key the server offered and
// what to put into the config.
//
// Uploads (Create) stream with up to "concurrency" SFTP write requests in
// flight whatever the source (an opaque stream of unknown size included);
// memory per stream stays under concurrency × 32 KiB plus a pipe. Rename
// replaces the destination atomically with posix-rename@openssh.com when
// the server offers it. OpenSSH reports a full disk as a generic
// SSH_FX_FAILURE; when a write fails that way and statvfs@openssh.com says
// the file system has no room left, the error wraps transports.ErrNoSpace.
//
// Options (URL query or config params):
//
//	concurrency  SFTP requests in flight per file (default 64)
//	timeout      dial and handshake timeout (default 30s)
//	create       make the URL's folder when missing (default true)
//
// Only regular files are opened: Open looks at the file first (OpenSSH's
// sftp-server opens a named pipe with open(2), which blocks it, and the
// session, until a writer comes), and the open itself gives up when the
// run's context ends.
//
// Exclusive create (transports.ExclusiveCreator, the backup lock): the
// content is written under a temporary name, then renamed onto its name
// with the plain SSH_FXP_RENAME, which SFTP defines as failing when the
// name exists and OpenSSH's sftp-server makes atomic with link(2) and
// unlink(2) (on a file system without hard links it falls back to a stat
// and a rename, not atomic). SSH_FXF_EXCL is not used: such a file is
// empty until written, and a reader would take it for a broken lock.
package sftp
