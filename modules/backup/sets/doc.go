// Package sets is the on-disk format of vmlua's backup sets on a target,
// and everything that reads or changes sets without vSphere: writing a
// set (Writer: its files, progress.json while it grows, catalog.json
// last), listing and reading sets (List, ReadCatalog, ReadVerified,
// NewestComplete), verifying them (Verify), the lock of a VM's folder
// (AcquireLock: created with the transport's exclusive create, so of runs
// starting together exactly one gets it; stale locks are broken under a
// marker, by one run; a lock the credentials may not remove, on an
// append-only target, is renamed aside instead), the object lock of a
// complete set (LockSet, LockedUntil: S3 Object Lock until the date its
// retention keeps it), the chain of an incremental (ChainOf, LayersOf,
// OpenChain), prune (Prune, with the run's record of failed backups:
// SetFailed, Failed; a locked set is never removed), synthesizing a full
// from a chain (Synthesize), and encrypted sets: a set's data key made
// and wrapped to age recipients (SealKey, Writer.Encrypt), its files
// stored through internal/spancrypt (Seal, SealBytes, UploadSealed) and
// read back with the run's identities (Keyring, carried in the run's
// context: WithKeyring), which open the key and check the catalog's MAC
// before any byte of the set is trusted (SetKey, CheckKeys).
//
// The layout: <target>/<DirName(vm name)>/<UTC timestamp>/ holds one set;
// the catalog's schema is package catalog, the keep/drop policy package
// retention. The backup module (modules/backup) takes the VM's disks out of
// vSphere into a Writer and puts a set back; its Lua functions wrap this
// package's.
package sets
