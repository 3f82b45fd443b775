// Package ftp is the ftp:// and ftps:// transport, with
// github.com/jlaffaye/ftp.
//
// URL forms:
//
//	ftps://user@host[:port]/path   explicit TLS (AUTH TLS) on port 21
//	ftp://user@host[:port]/path    plain FTP, only with allow_plaintext
//
// The path is relative to the login directory, as in RFC 1738 and curl;
// an absolute path on the server is written with an encoded first slash,
// ftp://host/%2Fsrv/backup. The user comes from the URL or the credential.
//
// Plain FTP sends the password and the data unencrypted; Open refuses it
// unless the credential sets allow_plaintext = true. ftps:// verifies the
// server's certificate against the system roots, or the PEM file given in
// the ca_file option; insecure_tls = true in the credential skips the check.
// Data connections are TLS-protected too (PROT P). Servers that demand TLS
// session reuse on data connections (vsftpd's require_ssl_reuse=YES) may
// refuse Go's TLS client; set require_ssl_reuse=NO there.
//
// FTP carries one transfer per connection: the transport keeps a small pool
// of logged-in connections (up to "connections" idle ones) and opens more
// when transfers overlap. Open resumes at an offset with REST. Create
// streams through a pipe into STOR; Abort closes the stream with an error
// and deletes the file. A refused login wraps transports.ErrAuth; the
// replies 452/552 (and vsftpd's "451 Failure writing") wrap
// transports.ErrNoSpace.
//
// Options (URL query or config params):
//
//	ca_file      PEM certificate(s) to verify an ftps server with
//	connections  idle connections kept for reuse (default 4)
//	timeout      dial timeout (default 30s)
//	create       make the URL's folder when missing (default true)
//
// Open of a directory fails with transports.ErrNotRegular; vsftpd does
// not show named pipes or devices at all (not found).
//
// Exclusive create (transports.ExclusiveCreator, the backup lock): FTP
// has no exclusive create for files (STOR replaces, RNTO replaces on most
// servers, STOU picks another name), but MKD fails when anything is there
// (mkdir(2) is atomic): a guard folder made with MKD
// (transports.CreateExclusiveGuarded), under which the complete content,
// stored under a temporary name, is renamed onto the name.
package ftp
