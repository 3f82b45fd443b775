// Package hostile holds the module-level hostile-script battery: scripts
// that try to leave their grants through vmlua's modules (transport paths,
// URLs, symlinks, v:export and v:backup targets, crafted catalogs given to
// backup.restore, metatables on returned values, a question handler that
// never returns). Each must be refused with a clear error, write nothing
// outside what was granted, and leave the host running. The sandbox's own
// battery is runtime.TestHostileScripts.
package hostile
