// Package bulk runs one operation over many objects: re-wrapping their
// data keys, re-encrypting them to the format the client writes,
// encrypting unencrypted objects in place, verifying or inspecting them.
// It is the job layer that the CLI, the S3 Batch Operations Lambda and any
// scheduler that starts N copies of a program share.
//
// A job is a [Manifest] (the tasks, streamed one at a time: a Batch
// Operations CSV with [ReadCSV], an S3 Inventory report with
// [ReadInventory], a listing with [List], any of the first two from S3 or
// a local file with [Open]), an [Operation] ([Rewrap], [ReEncrypt],
// [Adopt], [Verify], [Inspect]) and [Run], which runs the operation on a
// bounded number of tasks at once and writes every [Result] to a
// completion [Report] in the format S3 Batch Operations writes.
//
// # Memory
//
// Nothing is proportional to the number of tasks: manifests are read line
// by line (lines and manifest.json are bounded before they are read), and
// Run never has more than a fixed window of tasks between the oldest
// unfinished task and the newest dispatched one, so a slow object cannot
// make the out-of-order completions pile up.
//
// # Sharding and resuming
//
// [Shard] splits a manifest among N workers that each read the whole
// manifest: a task belongs to shard hash(bucket, key, version id) mod N, so
// the N shards cover every task exactly once, and the split does not
// depend on the order of the manifest (two workers that list a prefix at
// different moments, or read an inventory whose data files are listed in
// another order, still agree on every object both see). [Summary].Watermark
// is the resume point: every task of the run with Seq <= Watermark has a
// result; [Skip] drops those tasks from a rerun.
//
// # Results
//
// Every task ends Done, Skipped (already done, not applicable: "already-
// current", "not-encrypted", "already-encrypted", "instruction-file",
// "not-latest") or Failed. [Classify] maps an error to the result codes of
// Batch Operations: TemporaryFailure for what a retry may fix (throttling,
// 5xx, timeouts, network errors, an object changed by a concurrent writer),
// PermanentFailure for the rest (authentication, commitment, policy, a
// malformed envelope, an unwrap or authorization failure, invalid input,
// Object Lock, S3 and KMS 4xx). Messages are one line of at most 1024
// characters and never hold key material. Every operation is idempotent:
// a rerun of a finished job writes nothing.
//
// # KMS at scale
//
// KMS request quotas are per account and region and shared by every
// caller. [RateLimit] limits the requests of one KMS client (each attempt,
// retries included) and [Retry] retries ThrottlingException with backoff
// and more attempts:
//
//	kmsClient := kms.NewFromConfig(cfg, bulk.RateLimit(100), bulk.Retry(10))
//
// ReEncrypt and Adopt generate one data key per object. A caching keyring
// (materials.NewCachingKeyring) around the target keyring reuses data keys
// for a bounded time and number of objects and removes most GenerateDataKey
// requests; Rewrap needs no data key (KMS ReEncrypt, one request per
// object).
package bulk
