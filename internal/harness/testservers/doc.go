// Package testservers starts real servers (OpenSSH sshd, vsftpd, Samba smbd,
// nfs-ganesha, ...) on free loopback ports for integration tests, and stops
// exactly the processes it started, by PID, when the test ends. The Debian
// packages they need are installed by .ci/run; a missing binary is a test
// failure, never a skip.
package testservers
