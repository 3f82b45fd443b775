// Package transports defines the one interface every backup target
// implements (Transport), the registry of transports by URL scheme with
// each scheme's facts (aliases, default port, URL parser, create option),
// and the behaviour written once for all of them as wrappers: atomic
// upload (temp name, byte count and sha256, rename), concurrency limits,
// retry with backoff, dry-run, and progress accounting (ProgressWriter and
// ProgressReader, which UploadOptions.Progress applies to the target's
// writer). Each transport lives in its own sub-package and registers its
// scheme in init(); transporttest is the conformance suite every one of
// them passes against a real server.
//
// Errors are classified once, here (Classify): not found, exists, not a
// regular file, permission, no space, invalid name, auth and the others
// that cannot change on retry fail at once; Retry retries only the rest.
// Each transport maps its protocol's status codes onto the sentinels and
// errno values Classify knows. Every transport opens regular files only
// (ErrNotRegular for a directory, named pipe, device or socket).
//
// Optional interfaces, found under the wrappers with As: ExclusiveCreator
// (create a small file only where nothing is, atomically: the backup
// lock; every transport has it, CreateExclusiveGuarded serves those whose
// protocol can only make a directory exclusively), ServerCopier,
// DirSyncDeferrer, SpaceReporter (the free space at the target: file,
// sftp and vmfs).
package transports
