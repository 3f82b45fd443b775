// Package examples holds site policies in Lua to copy and adapt; it has no
// Go code of its own. examples_test.go runs every one of them against the
// simulator and, for remote targets, against real servers on loopback.
package examples
