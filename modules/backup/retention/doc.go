// Package retention decides which backup sets to keep: ghettoVCB's
// rotation count (keep the last N) and grandfather-father-son buckets with
// the semantics of restic's ExpirePolicy (Last, Daily, Weekly, Monthly,
// Yearly: walking from the newest, a set is kept for a bucket rule when it
// is the newest of a bucket not yet seen, until the rule's count is used up).
// Incomplete sets are never counted; they go only when older than the
// newest complete set, and the newest complete set is always kept.
package retention
