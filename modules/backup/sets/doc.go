// Package sets is the on-disk format of vmlua's backup sets on a target,
// and everything that reads or changes sets without vSphere: writing a
// set (Writer: its files, progress.json while it grows, catalog.json
// last), listing and reading sets (List, ReadCatalog, ReadVerified,
// NewestComplete), verifying them (Verify), the lock of a VM's folder
// (AcquireLock: created with the transport's exclusive create, so of runs
// starting together exactly one gets it; stale locks are broken under a
// marker, by one run), the chain of an incremental (ChainOf, LayersOf,
// OpenChain), prune (Prune, with the run's record of failed backups:
// SetFailed, Failed) and synthesizing a full from a chain (Synthesize).
//
// The layout: <target>/<DirName(vm name)>/<UTC timestamp>/ holds one set;
// the catalog's schema is package catalog, the keep/drop policy package
// retention. The backup module (modules/backup) takes the VM's disks out of
// vSphere into a Writer and puts a set back; its Lua functions wrap this
// package's.
package sets
