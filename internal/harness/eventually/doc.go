// Package eventually waits, in tests, for a condition that another goroutine
// or process will make true, without a wall-clock budget of its own: a test's
// result must not depend on how busy the machine is (CI may run at load 16),
// so the only bound is go test's -timeout. The wait gives up a little before
// that deadline so the test fails with its own message instead of a panic
// dump of every goroutine.
package eventually
