package testservers

import "testing"

// SelfSignedCert writes a self-signed certificate for 127.0.0.1 and
// localhost (its own CA) and its key, PEM, into dir and returns their
// paths: for TLS servers a test starts itself (vmlua serve nbd).
func SelfSignedCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	return selfSignedCert(t, dir)
}
