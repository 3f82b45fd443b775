// Package soak is the bounded soak test: rounds of concurrent backups
// through mixed transports (file, SFTP to sshd, SMB to smbd) with a
// question watcher over the whole inventory, checking between rounds that
// goroutines, open file descriptors and the heap do not grow. Short mode
// by default (CI); VMLUA_SOAK=full runs the full size.
package soak
