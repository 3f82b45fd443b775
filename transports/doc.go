// Package transports defines the one interface every backup target
// implements (Transport), the registry of transports by URL scheme with
// each scheme's facts (aliases, default port, URL parser), and the
// behaviour written once for all of them as wrappers: atomic upload (temp
// name, byte count and sha256, rename), concurrency limits, retry with
// backoff, dry-run, and progress accounting (ProgressWriter and
// ProgressReader, which UploadOptions.Progress applies to the target's
// writer). Each transport lives in its own sub-package and registers its
// scheme in init(); transporttest is the conformance suite every one of
// them passes against a real server.
package transports
