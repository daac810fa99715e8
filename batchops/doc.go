// Package batchops runs the bulk operations of package bulk (rewrap,
// reencrypt, adopt, verify, inspect) as the Lambda function of an S3 Batch
// Operations LambdaInvoke job: S3 Batch Operations reads the manifest,
// calls the function for each object, retries temporary failures and
// writes the completion report.
//
// [Handler] takes the events of both invocation schemas:
// events.S3BatchJobEventV2 (schema "2.0": s3Bucket, and the job's
// userArguments) and events.S3BatchJobEvent (schema "1.0": s3BucketArn, no
// user arguments, so the function's environment is the whole job
// configuration). It answers events.S3BatchJobResponse: the schema
// version and invocation id echoed, treatMissingKeysAs
// "PermanentFailure", and one result per task with its taskId, a
// resultCode (Succeeded, TemporaryFailure, which Batch retries, or
// PermanentFailure, from bulk.Classify) and a one-line resultString of at
// most 1024 characters that never holds key material. Keys arrive
// URL-encoded (s3Key) and are decoded as url.QueryUnescape does; a task's
// s3VersionId is honoured (a write operation refuses a version that is not
// the current one). A schema 1.0 task's s3BucketArn must be of the
// partition of the function's region (aws, aws-cn for cn-*, aws-us-gov for
// us-gov-*, the aws-iso* partitions, aws-eusc): a bucket name is unique only
// within its partition. An ARN of another partition, or any ARN when the
// region is of no known partition, fails that task ("InvalidTask").
// A panic while a task runs (of the operation, a keyring, the SDK) fails
// that task alone ("InternalError", without the panic's value); one while
// the job's clients are built fails every task of the invocation, never
// the invocation itself.
//
// # Configuration
//
// The deployment's configuration is the function's environment
// ([ConfigFromEnv]); a schema 2.0 job adds user arguments. At most 10
// user arguments, each value at most 1024 characters; an unknown name, a
// malformed value or a value outside what the deployment allows is an
// invalid job configuration: every task of the job fails with
// PermanentFailure and a resultString that names the argument
// ("InvalidJobConfiguration: invalid job configuration: targetKmsKeyId:
// ..."), so that Batch stops the job on its failure threshold instead of
// retrying a Lambda error.
//
//	user argument          environment                       a job may
//	operation              S3EC_OPERATION                    choose one of S3EC_ALLOWED_OPERATIONS
//	                       S3EC_ALLOWED_OPERATIONS           (deployment only; default rewrap,reencrypt,verify,inspect)
//	targetKmsKeyId         S3EC_TARGET_KMS_KEY_ID            choose S3EC_TARGET_KMS_KEY_ID or one of S3EC_ALLOWED_TARGET_KMS_KEY_IDS
//	                       S3EC_ALLOWED_TARGET_KMS_KEY_IDS   (deployment only)
//	kmsKeyIds              S3EC_KMS_KEY_IDS                  narrow the readable key ARNs to a subset, never widen them
//	encryptionContext      S3EC_ENCRYPTION_CONTEXT           set (JSON object of strings; no aws: keys)
//	expectedEncryptionContext S3EC_EXPECTED_ENCRYPTION_CONTEXT  set: the context the objects' data keys are bound to, which reads must name
//	commitmentPolicy       S3EC_COMMITMENT_POLICY            tighten, never loosen
//	dryRun                 S3EC_DRY_RUN                      set (true|false)
//	force                  S3EC_FORCE                        set (true|false; reencrypt only)
//	kmsRequestsPerSecond   S3EC_KMS_REQUESTS_PER_SECOND      lower, never raise (0 or unset in the environment: no limit)
//	instructionFileSuffix  S3EC_INSTRUCTION_FILE_SUFFIX      set (printable ASCII, no '/' or space); adopt: only the deployment's
//	                       S3EC_ENABLE_LEGACY                (deployment only) read AES-CBC objects and legacy kms wraps
//	                       S3EC_KMS_MAX_ATTEMPTS             (deployment only) attempts per KMS request (default 10)
//	                       S3EC_BUCKETS                      (deployment only) the buckets a task may name
//	                       S3EC_DATA_KEY_CACHE_MAX_OBJECTS   (deployment only) objects per cached data key of reencrypt/adopt (default 1000; 1: off)
//	                       S3EC_DEADLINE_MARGIN              (deployment only) default 15s
//	                       S3EC_S3_USE_PATH_STYLE            (deployment only) path-style S3 addressing
//
// The rule: whoever can create a Batch job (s3:CreateJob and
// iam:PassRole on the job's role) controls the user arguments, and must
// not gain more than the deployment grants. So the keys the function may
// read are the environment's S3EC_KMS_KEY_IDS (and the execution role's
// kms:Decrypt), the key it may wrap new data keys with is one of an
// allow-list in the environment, the commitment policy and the KMS request
// rate can only be made stricter, and legacy (unauthenticated) reads and
// Adopt are the deployment's opt-ins. Readable keys must be full key ARNs:
// the client's keyring is a KMS discovery keyring limited to them
// (materials.KMSDiscoveryOptions.AllowedKeyARNs); the target is a
// materials.KMSKeyring.
//
// # Clients and KMS at scale
//
// The S3 and KMS clients are built from the aws.Config once per distinct
// job configuration and kept across invocations of the same function
// instance. The KMS client has bulk.RateLimit (requests per second of one
// instance: the job's share of the account's KMS quota divided by the
// function's reserved concurrency) and bulk.Retry (throttling retried with
// backoff, then TemporaryFailure). The new data keys of reencrypt and
// adopt come from a materials.CachingKeyring around the target keyring,
// kept with the clients: one GenerateDataKey serves up to
// S3EC_DATA_KEY_CACHE_MAX_OBJECTS objects (V3 only; each object still
// derives its own content key), for at most 5 minutes.
//
// # The Lambda deadline
//
// A task does not start when less than the margin (S3EC_DEADLINE_MARGIN,
// default 15s) is left before the Lambda deadline: it is a
// TemporaryFailure ("DeadlineNear"), which Batch retries. A task that
// starts runs with a context whose deadline is the Lambda deadline less
// the margin, so that a cancelled ReEncrypt still aborts its multipart
// upload before Lambda freezes the instance; its expiry is a
// TemporaryFailure ("Timeout").
package batchops
