package batchops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// The invocation schema versions of S3 Batch Operations.
const (
	SchemaV1 = "1.0" // events.S3BatchJobEvent: s3BucketArn, no user arguments
	SchemaV2 = "2.0" // events.S3BatchJobEventV2: s3Bucket, userArguments
)

// TreatMissingKeysAs is the response's treatMissingKeysAs: a task the
// response leaves out failed permanently.
const TreatMissingKeysAs = "PermanentFailure"

// MaxResultString bounds a task's resultString.
const MaxResultString = 1024

// maxClientSets bounds the client sets a Handler keeps (one per distinct
// job configuration).
const maxClientSets = 8

// ErrSchema is the error of an event whose invocationSchemaVersion is not
// "1.0" or "2.0": the Lambda invocation fails (there is no task to report
// a result for).
var ErrSchema = errors.New("batchops: unsupported invocationSchemaVersion")

// Handler is the S3 Batch Operations Lambda handler. It is safe for
// concurrent use; it keeps the S3 and KMS clients of each distinct job
// configuration across invocations.
type Handler struct {
	cfg Config
	// partition is the AWS partition of the function's region (cfg.AWS),
	// the only one whose bucket ARNs a task may name; "" when the region
	// is of no known partition.
	partition string

	mu      sync.Mutex
	clients map[string]*clientSet
}

// clientSet holds the clients of one configuration.
type clientSet struct {
	s3     *s3.Client
	kms    *kms.Client
	enc    *encryptionclient.Client // nil for inspect
	target *materials.KMSKeyring    // nil for verify and inspect
	// writer wraps the new data keys of reencrypt and adopt: a caching
	// keyring around target (nil for the other operations).
	writer *materials.CachingKeyring
}

// close zeroes the cached data keys.
func (cs *clientSet) close() {
	if cs.writer != nil {
		_ = cs.writer.Close()
	}
}

// NewHandler returns a handler for the deployment's configuration cfg. An
// invalid cfg (or one with ConfigError set) makes every task fail
// permanently with the reason.
func NewHandler(cfg Config) *Handler {
	if cfg.ConfigError == nil {
		cfg.ConfigError = cfg.validate()
	}
	return &Handler{cfg: cfg, partition: partitionOf(cfg.AWS.Region), clients: map[string]*clientSet{}}
}

// Invoke handles one Lambda invocation: payload is a Batch Operations
// event of schema 1.0 or 2.0 (by its invocationSchemaVersion), the answer
// an events.S3BatchJobResponse. *Handler is a lambda.Handler, so
// lambda.Start(h) runs it.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var head struct {
		InvocationSchemaVersion string `json:"invocationSchemaVersion"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return nil, fmt.Errorf("batchops: event is not a JSON object: %w", err)
	}
	var (
		resp events.S3BatchJobResponse
		err  error
	)
	switch head.InvocationSchemaVersion {
	case SchemaV2:
		var ev events.S3BatchJobEventV2
		if err = json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("batchops: schema 2.0 event: %w", err)
		}
		resp, err = h.HandleV2(ctx, ev)
	case SchemaV1:
		var ev events.S3BatchJobEvent
		if err = json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("batchops: schema 1.0 event: %w", err)
		}
		resp, err = h.HandleV1(ctx, ev)
	default:
		return nil, fmt.Errorf("%w %q (want %q or %q)", ErrSchema, truncate(head.InvocationSchemaVersion, 32), SchemaV1, SchemaV2)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// HandleV2 runs the tasks of a schema 2.0 event: the job's user arguments
// apply over the deployment's configuration (see the package
// documentation). It returns an error only for an event of another
// schema; every task failure is a result.
func (h *Handler) HandleV2(ctx context.Context, ev events.S3BatchJobEventV2) (events.S3BatchJobResponse, error) {
	if ev.InvocationSchemaVersion != SchemaV2 {
		return events.S3BatchJobResponse{}, fmt.Errorf("%w %q in HandleV2 (want %q)", ErrSchema, truncate(ev.InvocationSchemaVersion, 32), SchemaV2)
	}
	s, err := h.resolve(orEmpty(ev.Job.UserArguments))
	tasks := make([]task, len(ev.Tasks))
	for i, t := range ev.Tasks {
		tasks[i] = task{id: t.TaskID, bucket: t.S3Bucket, key: t.S3Key, version: t.S3VersionID}
	}
	return h.respond(ctx, ev.InvocationSchemaVersion, ev.InvocationID, s, err, tasks), nil
}

// HandleV1 runs the tasks of a schema 1.0 event, which carries no user
// arguments: the deployment's configuration (the environment) is the
// whole job configuration. The bucket is read from each task's
// s3BucketArn.
func (h *Handler) HandleV1(ctx context.Context, ev events.S3BatchJobEvent) (events.S3BatchJobResponse, error) {
	if ev.InvocationSchemaVersion != SchemaV1 {
		return events.S3BatchJobResponse{}, fmt.Errorf("%w %q in HandleV1 (want %q)", ErrSchema, truncate(ev.InvocationSchemaVersion, 32), SchemaV1)
	}
	s, err := h.resolve(nil)
	tasks := make([]task, len(ev.Tasks))
	for i, t := range ev.Tasks {
		tasks[i] = task{id: t.TaskID, key: t.S3Key, version: t.S3VersionID, bucketARN: t.S3BucketARN, v1: true}
	}
	return h.respond(ctx, ev.InvocationSchemaVersion, ev.InvocationID, s, err, tasks), nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// task is one task of either schema, as received.
type task struct {
	id, bucket, key, version string
	bucketARN                string
	v1                       bool
}

func (h *Handler) respond(ctx context.Context, schema, invocation string, s *settings, confErr error, tasks []task) events.S3BatchJobResponse {
	resp := events.S3BatchJobResponse{
		InvocationSchemaVersion: schema,
		TreatMissingKeysAs:      TreatMissingKeysAs,
		InvocationID:            invocation,
		Results:                 make([]events.S3BatchJobResult, 0, len(tasks)),
	}
	var op bulk.Operation
	if confErr == nil {
		op, confErr = h.safeOperation(s)
	}
	if confErr == nil && s.expectedContext != nil {
		ctx = encryptionclient.WithEncryptionContext(ctx, s.expectedContext)
	}
	for _, t := range tasks {
		code, msg := bulk.PermanentFailure, ""
		if confErr != nil {
			msg = configMessage(confErr)
		} else {
			code, msg = h.runTask(ctx, op, t)
		}
		resp.Results = append(resp.Results, events.S3BatchJobResult{TaskID: t.id, ResultCode: string(code), ResultString: truncate(msg, MaxResultString)})
	}
	return resp
}

func configMessage(err error) string {
	var ae *ArgumentError
	if errors.As(err, &ae) {
		return "InvalidJobConfiguration: " + ae.Error()
	}
	var pe *panicError
	if errors.As(err, &pe) {
		return "InternalError: " + pe.Error()
	}
	return "InvalidDeployment: " + err.Error()
}

// panicError is a panic of the handler's own code or of the library,
// turned into an error. It names where the panic happened, never the
// panic's value, which may hold an object's data or key material.
type panicError struct{ where string }

func (e *panicError) Error() string {
	return e.where + " panicked (a bug; the panic value is not reported)"
}

// resolve is h.cfg.resolve, a panic of which is an error: every task then
// fails permanently instead of the whole invocation failing.
func (h *Handler) resolve(args map[string]string) (s *settings, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, &panicError{where: "reading the job configuration"}
		}
	}()
	return h.cfg.resolve(args)
}

// runTask runs op on one task within the Lambda deadline less the margin.
// A panic in it (of op, a keyring, the SDK) fails that task alone,
// permanently: out of the handler it would fail the whole invocation,
// and Batch would then fail or retry every task of it.
func (h *Handler) runTask(ctx context.Context, op bulk.Operation, t task) (status bulk.TaskStatus, msg string) {
	defer func() {
		if p := recover(); p != nil {
			status, msg = bulk.PermanentFailure, "InternalError: "+(&panicError{where: "the operation on this task"}).Error()
		}
	}()
	bt, err := t.decode(h.partition)
	if err != nil {
		return bulk.PermanentFailure, "InvalidTask: " + err.Error()
	}
	if len(h.cfg.Buckets) > 0 && !slices.Contains(h.cfg.Buckets, bt.Bucket) {
		return bulk.PermanentFailure, fmt.Sprintf("BucketNotAllowed: bucket %q is not one of the deployment's buckets (%s)", truncate(bt.Bucket, 64), EnvBuckets)
	}
	margin := h.cfg.margin()
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < margin {
			return bulk.TemporaryFailure, fmt.Sprintf("DeadlineNear: %s left before the Lambda deadline, below the margin %s; not started", left.Round(time.Millisecond), margin)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	r := op.Do(ctx, bt)
	if r.Status == bulk.Succeeded {
		return r.Status, r.Message
	}
	status = r.Status
	if status != bulk.TemporaryFailure {
		status = bulk.PermanentFailure
	}
	code := r.ErrorCode
	if code == "" {
		code = "Error"
	}
	return status, code + ": " + r.Message
}

// decode turns a task of the event into a bulk.Task: the key URL-decoded
// (as Batch Operations encodes it), the bucket read from the ARN for
// schema 1.0, which must be of partition (the function's).
func (t task) decode(partition string) (bulk.Task, error) {
	bucket := t.bucket
	if t.v1 {
		var err error
		if bucket, err = bucketFromARN(t.bucketARN, partition); err != nil {
			return bulk.Task{}, err
		}
	}
	if bucket == "" {
		return bulk.Task{}, errors.New("empty s3Bucket")
	}
	if t.key == "" {
		return bulk.Task{}, errors.New("empty s3Key")
	}
	key, err := url.QueryUnescape(t.key)
	if err != nil {
		return bulk.Task{}, errors.New("s3Key is not URL-encoded")
	}
	if key == "" || !utf8.ValidString(key) {
		return bulk.Task{}, errors.New("s3Key decodes to an empty or invalid key")
	}
	return bulk.Task{Bucket: bucket, Key: key, VersionId: t.version}, nil
}

// bucketFromARN returns the bucket of an S3 bucket ARN,
// arn:PARTITION:s3:::BUCKET, whose partition must be partition (the
// function's). A bucket name is unique only within its partition: the
// same name in another partition (aws-cn, aws-us-gov) is another bucket,
// which a task run here would miss and replace by its namesake. An empty
// partition (a function region of no known partition) refuses every ARN.
func bucketFromARN(arn, partition string) (string, error) {
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[1] == "" || p[2] != "s3" || p[3] != "" || p[4] != "" || p[5] == "" || strings.ContainsAny(p[5], "/:") {
		return "", fmt.Errorf("s3BucketArn %q is not an S3 bucket ARN (arn:aws:s3:::BUCKET)", truncate(arn, 128))
	}
	switch {
	case partition == "":
		return "", fmt.Errorf("s3BucketArn of partition %q: the function's region (AWS_REGION) is of no known AWS partition, so no bucket ARN can be checked", truncate(p[1], 32))
	case p[1] != partition:
		return "", fmt.Errorf("s3BucketArn of partition %q, not the function's partition %q", truncate(p[1], 32), partition)
	}
	return p[5], nil
}

// safeOperation is h.operation, a panic of which (building the clients,
// the keyrings) is an error: every task then fails permanently instead of
// the whole invocation failing.
func (h *Handler) safeOperation(s *settings) (op bulk.Operation, err error) {
	defer func() {
		if p := recover(); p != nil {
			op, err = nil, &panicError{where: "building the job's clients"}
		}
	}()
	return h.operation(s)
}

// operation builds the job's operation over the clients of its
// configuration.
func (h *Handler) operation(s *settings) (bulk.Operation, error) {
	cs, err := h.clientsFor(s)
	if err != nil {
		return nil, err
	}
	switch s.operation {
	case OpRewrap:
		return bulk.Rewrap(cs.enc, bulk.RewrapParams{Keyring: cs.target, EncryptionContext: s.encryptionContext, DryRun: s.dryRun}), nil
	case OpReEncrypt:
		return bulk.ReEncrypt(cs.enc, bulk.ReEncryptParams{Keyring: cs.writer, EncryptionContext: s.encryptionContext, DryRun: s.dryRun, Force: s.force}), nil
	case OpAdopt:
		return bulk.Adopt(cs.enc, bulk.AdoptParams{Keyring: cs.writer, EncryptionContext: s.encryptionContext, DryRun: s.dryRun}), nil
	case OpVerify:
		return bulk.Verify(cs.enc), nil
	case OpInspect:
		return bulk.Inspect(cs.s3), nil
	}
	return nil, argErr(ArgOperation, "unknown operation %q", s.operation)
}

// clientsFor returns the clients of s, built on first use.
func (h *Handler) clientsFor(s *settings) (*clientSet, error) {
	key := s.operation + "|" + s.clientKey()
	h.mu.Lock()
	defer h.mu.Unlock()
	if cs, ok := h.clients[key]; ok {
		return cs, nil
	}
	cs, err := h.build(s)
	if err != nil {
		return nil, err
	}
	if len(h.clients) >= maxClientSets {
		for _, old := range h.clients {
			old.close()
		}
		clear(h.clients)
	}
	h.clients[key] = cs
	return cs, nil
}

func (h *Handler) build(s *settings) (_ *clientSet, err error) {
	cs := &clientSet{}
	defer func() {
		if err != nil {
			cs.close()
		}
	}()
	pathStyle := s.pathStyle
	cs.s3 = s3.NewFromConfig(h.cfg.AWS, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	if s.operation == OpInspect {
		return cs, nil
	}
	cs.kms = kms.NewFromConfig(h.cfg.AWS, bulk.RateLimit(s.kmsRate), bulk.Retry(s.kmsAttempts))
	if s.target != "" {
		if cs.target, err = materials.NewKMSKeyring(cs.kms, s.target, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = s.legacy }); err != nil {
			return nil, fmt.Errorf("batchops: target key: %w", err)
		}
		if s.operation == OpReEncrypt || s.operation == OpAdopt {
			if cs.writer, err = materials.NewCachingKeyring(cs.target, func(o *materials.CachingOptions) { o.MaxObjects = s.cacheObjects }); err != nil {
				return nil, fmt.Errorf("batchops: data-key cache: %w", err)
			}
		}
	}
	// The client's keyring reads: a discovery keyring limited to the
	// readable keys. Adopt reads nothing encrypted; with no readable key
	// its client gets the target keyring.
	var keyring materials.Keyring = cs.target
	if len(s.readable) > 0 {
		if keyring, err = materials.NewKMSDiscoveryKeyring(cs.kms, func(o *materials.KMSDiscoveryOptions) {
			o.AllowedKeyARNs = slices.Clone(s.readable)
			o.EnableLegacyWrapping = s.legacy
		}); err != nil {
			return nil, fmt.Errorf("batchops: readable keys: %w", err)
		}
	}
	if keyring == nil {
		return nil, argErr(ArgKMSKeyIDs, "no readable key")
	}
	if cs.enc, err = encryptionclient.New(cs.s3, keyring, func(o *encryptionclient.Options) {
		o.CommitmentPolicy = s.policy
		o.EnableLegacyUnauthenticatedModes = s.legacy
		o.InstructionFileSuffix = s.suffix
	}); err != nil {
		return nil, fmt.Errorf("batchops: client: %w", err)
	}
	return cs, nil
}

// truncate makes s one line of at most n bytes, cut at a character
// boundary.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
