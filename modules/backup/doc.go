// Package backup is the "backup" Lua module: backup sets with a catalog,
// listing, verification, restore (vcbRestore parity), retention, and the
// book's vmxBackup.pl; plus the v:backup method of VM objects.
//
//	local set = v:backup{ to = t, compress = "zstd" }   -- the whole cycle, every disk
//	backup.verify{ at = t, set = set.id }
//	backup.list{ at = t, vm = v.name }
//	backup.restore{ from = t, set = set.id, datastore = "LocalDS_1", name = "DB01-copy" }
//	backup.prune{ at = t, vm = v.name, keep = 4 }
//	backup.vmx{ vm = v, to = t }
//
// A set is the folder <target>/<vm name>/<UTC timestamp>/ holding the VM's
// configuration files, each disk as a vmlua-sparse image (internal/sparse:
// zero regions left out) compressed on every core (internal/pcomp), and
// catalog.json, written last and atomically (docs/catalog.md). The work is
// in Go: Backup, Restore and VMXArchive here, List, Verify, Prune and
// Synthesize in package sets (the set format on a target, which needs no
// vSphere); the Lua functions are thin wrappers.
package backup
