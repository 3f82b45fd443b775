package s3

// notes is the s3 scheme's prose in docs/transports.md (Scheme.Notes).
const notes = "### Setting up an S3 target\n\n" +
	"Create the bucket yourself (vmlua never creates one): with **object lock enabled** if sets are to be immutable " +
	"(it can only be turned on when the bucket is created on most stores; it turns versioning on). " +
	"Do **not** give the bucket a default retention: vmlua locks each complete set's files itself, until the date its retention keeps it, " +
	"and the lock file of a VM's folder (`.vmlua-lock`) must stay removable, or no run after the first could take it.\n\n" +
	"Credentials: a named credential in the config, whose `user` is the access key id and `password` (or `password_env`, `password_file`) the secret key " +
	"(docs/config.md); without one, the standard AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), " +
	"`AWS_PROFILE` or `profile=`, and the shared files `~/.aws/config` and `~/.aws/credentials` (SSO and assumed roles included).\n\n" +
	"```\n" +
	"s3://acme-backups/vmlua?region=eu-central-1                          # AWS\n" +
	"s3://backups/vmlua?endpoint=https://s3.lan:9000                       # MinIO, Ceph RGW, Versity, SeaweedFS (path style)\n" +
	"s3://acme-backups/vmlua?endpoint=https://s3.eu-central-1.wasabisys.com&region=eu-central-1\n" +
	"s3://acme-backups/vmlua?region=eu-central-1&object_lock=compliance    # immutable sets\n" +
	"```\n\n" +
	"The grant names the bucket, the prefix and the store (`--allow 's3://backups/vmlua?endpoint=https://s3.lan:9000'`): endpoint= and profile= are part of what a grant covers, so a script can set them only to the granted values (docs/security.md).\n\n" +
	"A process killed in the middle of an upload cannot abort it: its parts stay on the server, invisible and billed. " +
	"The next opening of the URL aborts the uploads below it that were started more than `stale_uploads=` ago (24h, twice a run's default timeout), " +
	"if its account may list and abort them; give the bucket a lifecycle rule as well (AWS: `AbortIncompleteMultipartUpload` with `DaysAfterInitiation: 1`; other stores have their own equivalent rule). " +
	"An upload that fails or is cancelled while vmlua runs is aborted, parts and all.\n\n" +
	"### Object lock\n\n" +
	"With `object_lock=governance` or `object_lock=compliance`, every file of a complete set, and of every set its chain needs, is locked until the date " +
	"the set's retention keeps it at the earliest: `v:backup{to=t, policy={daily=7, weekly=4}}` locks a set of Wednesday the 14th " +
	"until the Monday of its week plus 4 weeks, 00:00 UTC (the later of the rules), `lock_days=` sets a minimum. A retention given as `keep=N` alone " +
	"gives no date (N sets may come at any pace), so such a backup is refused before it starts unless `lock_days=` is set. " +
	"A set that the retention drops sooner (an earlier set of the same week) stays until its date: `backup.prune` and `vmlua prune` never try to delete a locked set, " +
	"keep it and say until when (\"locked until 2026-02-09T00:00:00Z (object lock, compliance mode)\"). " +
	"In compliance mode nobody, not the bucket's owner either, can delete or overwrite a locked version before its date; governance mode lets an account with " +
	"`s3:BypassGovernanceRetention` through. Shortening a lock is refused by the store; vmlua only ever extends one.\n\n" +
	"### An append-only account for the backup host\n\n" +
	"The account that writes backups need not be able to delete them: an upload is a multipart upload completed under its final name (no temporary object, " +
	"no copy, no delete), a failed one is aborted (`s3:AbortMultipartUpload`), and the only objects the backup host deletes are its lock files, which hold no backup data. " +
	"A bucket policy (AWS IAM has the same statements) for a backup account and a prefix `vmlua`:\n\n" +
	"```json\n" +
	"{\n" +
	"  \"Version\": \"2012-10-17\",\n" +
	"  \"Statement\": [\n" +
	"    {\"Sid\": \"BackupWrites\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": [\"arn:aws:iam::111122223333:user/vmlua-backup\"]},\n" +
	"     \"Action\": [\"s3:GetObject\", \"s3:PutObject\", \"s3:GetObjectRetention\", \"s3:PutObjectRetention\", \"s3:AbortMultipartUpload\", \"s3:ListMultipartUploadParts\"],\n" +
	"     \"Resource\": [\"arn:aws:s3:::acme-backups/vmlua/*\"]},\n" +
	"    {\"Sid\": \"BackupLists\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": [\"arn:aws:iam::111122223333:user/vmlua-backup\"]},\n" +
	"     \"Action\": [\"s3:ListBucket\", \"s3:ListBucketVersions\", \"s3:GetBucketVersioning\", \"s3:ListBucketMultipartUploads\"],\n" +
	"     \"Resource\": [\"arn:aws:s3:::acme-backups\"]},\n" +
	"    {\"Sid\": \"BackupRemovesItsLockOnly\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": [\"arn:aws:iam::111122223333:user/vmlua-backup\"]},\n" +
	"     \"Action\": [\"s3:DeleteObject\", \"s3:DeleteObjectVersion\"],\n" +
	"     \"Resource\": [\"arn:aws:s3:::acme-backups/vmlua/*/.vmlua-lock\", \"arn:aws:s3:::acme-backups/vmlua/*/.vmlua-lock.break\"]}\n" +
	"  ]\n" +
	"}\n" +
	"```\n\n" +
	"Create the prefix's folder once with the owner's credentials (or open the URL with them once): on some stores `vmlua/*` does not cover the `vmlua/` marker itself. " +
	"With it, backups, `backup.verify` and `backup.restore` work as usual; a failed backup's partial set cannot be removed and is listed as incomplete; " +
	"`progress.json` stays in each set. A prune with these credentials is refused by the store, and says so: prune from another host, with credentials that may delete " +
	"(`vmlua prune --credentials s3-admin s3://acme-backups/vmlua --gfs daily=7,weekly=4`), which also removes the incomplete sets and the leftover `progress.json`; " +
	"`scripts/nightly.lua` takes `prune=false` for the backup host, and `prune_credentials=` where one host holds both keys. " +
	"The test `TestAnAppendOnlyTargetTakesBackupsAndOnlyOtherCredentialsPrune` runs this policy against a real S3 server."
