// Package testservers starts real servers (OpenSSH sshd, vsftpd, Samba smbd,
// nfs-ganesha, Versity's S3 gateway, ...) on free loopback ports for
// integration tests, and stops exactly the processes it started, by PID,
// when the test ends. The Debian packages they need are installed by
// .ci/run (.ci/install-deps), which also builds versitygw from the Go
// module proxy at a pinned version; a missing binary is a test failure,
// never a skip.
package testservers
