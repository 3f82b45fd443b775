// Package simtest is the shared harness of the tests that run Lua scripts
// against the embedded vSphere simulator: it starts a simulator, runs a
// script with vmlua's modules and a recording logger, and inspects the
// result (snapshots left, disk content over /folder, partial files). It is
// imported by tests only.
package simtest
