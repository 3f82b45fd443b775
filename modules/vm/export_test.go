package vm

// SetHostname makes the runs that start from now on take host for this
// machine's name, as a second backup host would; restore puts the real
// name back. Runs already started keep theirs.
func SetHostname(host string) (restore func()) {
	old := hostname
	hostname = host
	return func() { hostname = old }
}
