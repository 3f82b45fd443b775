// Package s3 is the s3:// transport: objects in a bucket of any
// S3-compatible store, below a prefix (s3://bucket/prefix), with the
// semantics of every other transport (package transports).
//
// Folders are key prefixes; MkdirAll puts an empty "name/" marker so a
// folder exists while empty, as on a file system. Listing pages through
// ListObjectsV2 with its continuation token.
//
// Atomic uploads without a rename: S3 cannot rename (copy and delete
// would move every byte again and need delete rights the backup host
// should not have). transports.CreateAtomic tells Create the final name
// (transports.WithStagedFinal), so the upload is a multipart upload of
// the final object: parts are sent on every core (concurrency=) from
// bounded buffers (memory=), each with its CRC32C (or SHA-256,
// checksum=) which the server checks on receipt (BadDigest otherwise),
// and the upload stays invisible after the Writer closes. Rename(temp,
// final) completes it (the multipart completion is the rename) and
// Remove(temp), Abort or a failure aborts it, so the server drops the
// parts too: neither an object nor an invisible upload is left. Verify
// (UploadOptions.Verify) cannot read back an incomplete upload; the
// server confirms every part's size and checksum instead
// (transports.StagedVerifier, ListParts). A file smaller than one part is
// never a multipart upload: it waits in memory and is put whole, with its
// checksum, when it is published. A process killed mid-upload cannot
// abort anything: the next Dial aborts the uploads below the prefix older
// than stale_uploads= (24h), and a bucket lifecycle rule
// (AbortIncompleteMultipartUpload) does as well.
//
// Exclusive create (the backup lock) is a PUT with If-None-Match: *;
// retries back off on SlowDown and 5xx through the shared wrappers
// (transports.Retry for calls, transports.Do for parts), the SDK's own
// retryer being off.
//
// Object lock (object_lock=governance|compliance, lock_days=): the
// transport is a transports.Retainer; the backup module locks a complete
// set's files until the date its retention keeps it at the earliest, and
// prune leaves locked sets alone. Remove deletes every version of a key
// in a versioned bucket (a delete marker alone would keep the bytes): a
// locked version is refused by the server (transports.ErrLocked).
//
// The client is aws-sdk-go-v2 (service/s3 v1.116.0, config v1.33.21),
// chosen over minio-go v7.4.1 on this evidence, measured on one program
// calling the same 17 operations with each, and on vmlua itself:
//
//   - features: both have per-part CRC32C/SHA-256 checksums, conditional
//     writes (aws: IfNoneMatch on PutObject and CompleteMultipartUpload;
//     minio-go: SetMatchETagExcept("*")), object lock retention and
//     version listing. aws-sdk-go-v2 has each as a typed field of its
//     call, and its credential chain (environment, profiles, SSO,
//     assumed roles) is the one the rest of the AWS tooling a site runs
//     uses.
//   - dependencies: aws-sdk-go-v2 brings 18 modules, all from one owner
//     and released together; minio-go 19 modules from 12 owners
//     (klauspost, minio, tinylib, zeebo, rs, dustin, ...).
//   - binary size, the cost of the choice: the program grew by 7.0 MiB
//     with aws-sdk-go-v2 against 2.4 MiB with minio-go, and vmlua's
//     binary by 10.7 MiB (44.4 to 55.0 MiB) with this transport.
//   - the test server (Versity's gateway) and the bench's reference
//     client (the SDK's transfer manager, the Go equivalent of aws s3 cp)
//     are built on aws-sdk-go-v2, so the figure compares one SDK with
//     itself.
package s3
