// Package hostile holds the module-level hostile-script battery: scripts
// that try to leave their grants through vmlua's modules (transport paths,
// URLs, symlinks, v:export and v:backup targets, crafted catalogs given to
// backup.restore, metatables on returned values, a question handler that
// never returns). Each must be refused with a clear error, write nothing
// outside what was granted, and leave the host running. Some classes run
// vmlua as a process against the simulator: long-running base functions
// and a call stuck for ever, with a REDO open (longcalls_test.go: the run
// still ends with its documented status and the REDO is committed), and
// control characters in errors, chunk names, results and VM names
// (controlchars_test.go: nothing printed forges a line). The sandbox's own
// batteries are runtime.TestHostileScripts and
// runtime.TestLongCallsAreBoundedOrStopped.
package hostile
