package batchops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// The user arguments of a schema 2.0 job (job.userArguments). Each has an
// environment variable of the same meaning (see [Config]).
const (
	ArgOperation             = "operation"                 // rewrap | reencrypt | adopt | verify | inspect
	ArgTargetKMSKeyID        = "targetKmsKeyId"            // one of the deployment's allowed targets
	ArgKMSKeyIDs             = "kmsKeyIds"                 // comma list, a subset of the deployment's readable keys
	ArgEncryptionContext     = "encryptionContext"         // JSON object of strings
	ArgExpectedContext       = "expectedEncryptionContext" // JSON object: the stored context reads must match
	ArgCommitmentPolicy      = "commitmentPolicy"          // at least as strict as the deployment's
	ArgDryRun                = "dryRun"                    // true | false
	ArgKMSRequestsPerSecond  = "kmsRequestsPerSecond"      // at most the deployment's
	ArgInstructionFileSuffix = "instructionFileSuffix"     // e.g. ".instruction"
	ArgForce                 = "force"                     // true | false (reencrypt)
)

// The environment variables of the deployment (see [ConfigFromEnv]).
const (
	EnvOperation              = "S3EC_OPERATION"
	EnvAllowedOperations      = "S3EC_ALLOWED_OPERATIONS"
	EnvKMSKeyIDs              = "S3EC_KMS_KEY_IDS"
	EnvTargetKMSKeyID         = "S3EC_TARGET_KMS_KEY_ID"
	EnvAllowedTargetKMSKeyIDs = "S3EC_ALLOWED_TARGET_KMS_KEY_IDS"
	EnvEncryptionContext      = "S3EC_ENCRYPTION_CONTEXT"
	EnvExpectedContext        = "S3EC_EXPECTED_ENCRYPTION_CONTEXT"
	EnvCommitmentPolicy       = "S3EC_COMMITMENT_POLICY"
	EnvEnableLegacy           = "S3EC_ENABLE_LEGACY"
	EnvDryRun                 = "S3EC_DRY_RUN"
	EnvForce                  = "S3EC_FORCE"
	EnvKMSRequestsPerSecond   = "S3EC_KMS_REQUESTS_PER_SECOND"
	EnvKMSMaxAttempts         = "S3EC_KMS_MAX_ATTEMPTS"
	EnvInstructionFileSuffix  = "S3EC_INSTRUCTION_FILE_SUFFIX"
	EnvBuckets                = "S3EC_BUCKETS"
	EnvDeadlineMargin         = "S3EC_DEADLINE_MARGIN"
	EnvS3UsePathStyle         = "S3EC_S3_USE_PATH_STYLE"
	EnvDataKeyCacheMaxObjects = "S3EC_DATA_KEY_CACHE_MAX_OBJECTS"
)

// Limits of user arguments: S3 Batch Operations allows at most 10 entries,
// each value at most 1024 characters.
const (
	MaxUserArguments   = 10
	MaxUserArgumentLen = 1024
)

// DefaultDeadlineMargin is the time before the Lambda deadline in which no
// task starts and by which a running task is cancelled.
const DefaultDeadlineMargin = 15 * time.Second

// DefaultAllowedOperations are the operations a job may name when
// S3EC_ALLOWED_OPERATIONS is not set. Adopt (encrypting plaintext objects
// in place) is an explicit opt-in of the deployment.
var DefaultAllowedOperations = []string{OpRewrap, OpReEncrypt, OpVerify, OpInspect}

// The operations.
const (
	OpRewrap    = "rewrap"
	OpReEncrypt = "reencrypt"
	OpAdopt     = "adopt"
	OpVerify    = "verify"
	OpInspect   = "inspect"
)

var allOperations = []string{OpRewrap, OpReEncrypt, OpAdopt, OpVerify, OpInspect}

// Config is the deployment's configuration: the defaults of every job and
// the limits that a job's user arguments cannot cross. It normally comes
// from the function's environment ([ConfigFromEnv]); the job's creator
// controls only the user arguments.
type Config struct {
	// AWS is the SDK configuration the S3 and KMS clients are built from
	// (region, credentials, AWS_ENDPOINT_URL_S3 / _KMS).
	AWS aws.Config

	// Operation is the default operation (S3EC_OPERATION).
	Operation string
	// AllowedOperations are the operations a job may run
	// (S3EC_ALLOWED_OPERATIONS; default DefaultAllowedOperations).
	AllowedOperations []string

	// ReadableKMSKeyARNs are the KMS key ARNs whose data keys the function
	// may unwrap (S3EC_KMS_KEY_IDS): the client's keyring is a KMS
	// discovery keyring limited to them. A job's kmsKeyIds may only name a
	// subset.
	ReadableKMSKeyARNs []string
	// TargetKMSKeyID is the default key new data keys are wrapped with
	// (S3EC_TARGET_KMS_KEY_ID).
	TargetKMSKeyID string
	// AllowedTargetKMSKeyIDs are the other keys a job's targetKmsKeyId may
	// name (S3EC_ALLOWED_TARGET_KMS_KEY_IDS); TargetKMSKeyID is always
	// allowed. A job can never name a key outside this list.
	AllowedTargetKMSKeyIDs []string

	// EncryptionContext is the default context bound to new data keys
	// (S3EC_ENCRYPTION_CONTEXT, a JSON object). Nil keeps each object's.
	EncryptionContext map[string]string
	// ExpectedEncryptionContext is the encryption context the objects'
	// data keys are bound to (S3EC_EXPECTED_ENCRYPTION_CONTEXT, a JSON
	// object): a KMS data key with a context is read only when the caller
	// names exactly that context, so a job over such objects must name it
	// (encryptionclient.WithEncryptionContext). Nil: objects without a
	// context.
	ExpectedEncryptionContext map[string]string
	// CommitmentPolicy is the weakest policy a job may use
	// (S3EC_COMMITMENT_POLICY) and the default.
	CommitmentPolicy encryptionclient.CommitmentPolicy
	// EnableLegacy reads legacy objects: AES-CBC content and the legacy
	// "kms" wrap (S3EC_ENABLE_LEGACY). Deployment only.
	EnableLegacy bool
	// DryRun and Force are the defaults of the user arguments of the same
	// name (S3EC_DRY_RUN, S3EC_FORCE).
	DryRun, Force bool
	// KMSRequestsPerSecond limits the KMS requests of one function
	// instance (S3EC_KMS_REQUESTS_PER_SECOND); 0 means no limit. A job may
	// only lower it.
	KMSRequestsPerSecond float64
	// KMSMaxAttempts is the attempts of each KMS request, throttling
	// retried with backoff (S3EC_KMS_MAX_ATTEMPTS; default
	// bulk.DefaultRetryAttempts).
	KMSMaxAttempts int
	// InstructionFileSuffix names instruction files
	// (S3EC_INSTRUCTION_FILE_SUFFIX; default ".instruction").
	InstructionFileSuffix string
	// Buckets, when not empty, are the only buckets a task may name
	// (S3EC_BUCKETS); the execution role is the real boundary, this is a
	// second one.
	Buckets []string
	// DeadlineMargin is the time before the Lambda deadline in which no
	// task starts, and by which a running one is cancelled
	// (S3EC_DEADLINE_MARGIN, a Go duration up to 15m; 0 or unset: 15s).
	DeadlineMargin time.Duration
	// S3UsePathStyle addresses buckets in the path (S3EC_S3_USE_PATH_STYLE),
	// for S3-compatible endpoints.
	S3UsePathStyle bool
	// DataKeyCacheMaxObjects is the most objects one data key encrypts in
	// a reencrypt or adopt job (S3EC_DATA_KEY_CACHE_MAX_OBJECTS): new data
	// keys come from a materials.CachingKeyring around the target keyring,
	// kept across invocations, with its default age (5 minutes) and byte
	// limits. 0: materials.DefaultCacheMaxObjects; 1 turns caching off.
	DataKeyCacheMaxObjects int

	// ConfigError is an error found while the configuration was read.
	// When set, every task fails with it (PermanentFailure), so that a
	// misconfigured function fails a job at once instead of being retried.
	ConfigError error
}

// ConfigFromEnv reads the deployment's configuration from the environment
// (the S3EC_* variables) and the SDK's default configuration
// (config.LoadDefaultConfig). On error it still returns a Config, whose
// ConfigError is the same error.
func ConfigFromEnv(ctx context.Context) (Config, error) {
	c, err := configFromLookup(os.LookupEnv)
	if err == nil {
		c.AWS, err = config.LoadDefaultConfig(ctx)
		if err != nil {
			err = fmt.Errorf("batchops: AWS configuration: %w", err)
		}
	}
	c.ConfigError = err
	return c, err
}

// configFromLookup parses the S3EC_* variables.
func configFromLookup(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	fail := func(name string, err error) (Config, error) {
		return c, fmt.Errorf("batchops: environment %s: %w", name, err)
	}
	var err error
	c.Operation = get(EnvOperation)
	if v := get(EnvAllowedOperations); v != "" {
		c.AllowedOperations = splitList(v)
	}
	c.ReadableKMSKeyARNs = splitList(get(EnvKMSKeyIDs))
	c.TargetKMSKeyID = get(EnvTargetKMSKeyID)
	c.AllowedTargetKMSKeyIDs = splitList(get(EnvAllowedTargetKMSKeyIDs))
	if v := get(EnvEncryptionContext); v != "" {
		if c.EncryptionContext, err = parseContext(v); err != nil {
			return fail(EnvEncryptionContext, err)
		}
	}
	if v := get(EnvExpectedContext); v != "" {
		if c.ExpectedEncryptionContext, err = parseContext(v); err != nil {
			return fail(EnvExpectedContext, err)
		}
	}
	if v := get(EnvCommitmentPolicy); v != "" {
		if c.CommitmentPolicy, err = encryptionclient.ParseCommitmentPolicy(v); err != nil {
			return fail(EnvCommitmentPolicy, err)
		}
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{EnvEnableLegacy, &c.EnableLegacy}, {EnvDryRun, &c.DryRun}, {EnvForce, &c.Force}, {EnvS3UsePathStyle, &c.S3UsePathStyle}} {
		if v := get(b.name); v != "" {
			if *b.dst, err = parseBool(v); err != nil {
				return fail(b.name, err)
			}
		}
	}
	if v := get(EnvKMSRequestsPerSecond); v != "" {
		if c.KMSRequestsPerSecond, err = parseRate(v, true); err != nil {
			return fail(EnvKMSRequestsPerSecond, err)
		}
	}
	if v := get(EnvKMSMaxAttempts); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return fail(EnvKMSMaxAttempts, errors.New("not an integer from 1 to 100"))
		}
		c.KMSMaxAttempts = n
	}
	if v := get(EnvDataKeyCacheMaxObjects); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1<<20 {
			return fail(EnvDataKeyCacheMaxObjects, errors.New("not an integer from 1 to 1048576"))
		}
		c.DataKeyCacheMaxObjects = n
	}
	c.InstructionFileSuffix = get(EnvInstructionFileSuffix)
	c.Buckets = splitList(get(EnvBuckets))
	if v := get(EnvDeadlineMargin); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 15*time.Minute {
			return fail(EnvDeadlineMargin, errors.New("not a duration from 0s to 15m"))
		}
		c.DeadlineMargin = d
	}
	return c, c.validate()
}

// validate checks the deployment's own settings.
func (c *Config) validate() error {
	if c.ConfigError != nil {
		return c.ConfigError
	}
	allowed := c.allowedOperations()
	for _, op := range allowed {
		if !slices.Contains(allOperations, op) {
			return fmt.Errorf("batchops: allowed operations (%s): unknown operation %q", EnvAllowedOperations, op)
		}
	}
	if c.Operation != "" && !slices.Contains(allowed, c.Operation) {
		return fmt.Errorf("batchops: operation (%s) %q is not one of the allowed operations %s", EnvOperation, c.Operation, strings.Join(allowed, ","))
	}
	for _, arn := range c.ReadableKMSKeyARNs {
		if !isKeyARN(arn) {
			return fmt.Errorf("batchops: readable key (%s) %q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", EnvKMSKeyIDs, arn)
		}
	}
	if c.TargetKMSKeyID == "" && len(c.AllowedTargetKMSKeyIDs) > 0 {
		return fmt.Errorf("batchops: %s is set but %s is not", EnvAllowedTargetKMSKeyIDs, EnvTargetKMSKeyID)
	}
	if c.CommitmentPolicy < encryptionclient.RequireEncryptRequireDecrypt || c.CommitmentPolicy > encryptionclient.ForbidEncryptAllowDecrypt {
		return fmt.Errorf("batchops: unknown commitment policy %d", c.CommitmentPolicy)
	}
	if c.KMSRequestsPerSecond < 0 || math.IsNaN(c.KMSRequestsPerSecond) || math.IsInf(c.KMSRequestsPerSecond, 0) {
		return fmt.Errorf("batchops: %s must be a finite number >= 0", EnvKMSRequestsPerSecond)
	}
	if c.InstructionFileSuffix != "" {
		if err := checkSuffix(c.InstructionFileSuffix); err != nil {
			return fmt.Errorf("batchops: %s: %w", EnvInstructionFileSuffix, err)
		}
	}
	if c.DataKeyCacheMaxObjects < 0 {
		return fmt.Errorf("batchops: negative %s", EnvDataKeyCacheMaxObjects)
	}
	if c.DeadlineMargin < 0 {
		return fmt.Errorf("batchops: negative %s", EnvDeadlineMargin)
	}
	return nil
}

func (c *Config) allowedOperations() []string {
	if len(c.AllowedOperations) == 0 {
		return DefaultAllowedOperations
	}
	return c.AllowedOperations
}

func (c *Config) allowedTargets() []string {
	if c.TargetKMSKeyID == "" {
		return nil
	}
	return append([]string{c.TargetKMSKeyID}, c.AllowedTargetKMSKeyIDs...)
}

func (c *Config) margin() time.Duration {
	if c.DeadlineMargin == 0 {
		return DefaultDeadlineMargin
	}
	return c.DeadlineMargin
}

// settings are the effective settings of one job: the deployment's
// defaults with the job's user arguments applied. Equal settings share
// one set of clients.
type settings struct {
	operation         string
	readable          []string // key ARNs, sorted
	target            string   // "" for verify and inspect
	encryptionContext map[string]string
	expectedContext   map[string]string
	policy            encryptionclient.CommitmentPolicy
	legacy            bool
	dryRun, force     bool
	kmsRate           float64
	kmsAttempts       int
	suffix            string
	pathStyle         bool
	cacheObjects      int
}

// clientKey identifies the clients settings need (the per-task parameters
// dryRun, force and the encryption context are not part of it).
func (s *settings) clientKey() string {
	return fmt.Sprintf("%q|%q|%d|%t|%g|%d|%q|%t|%d", s.readable, s.target, s.policy, s.legacy, s.kmsRate, s.kmsAttempts, s.suffix, s.pathStyle, s.cacheObjects)
}

// ArgumentError reports a job configuration that cannot run: a user
// argument that is unknown, malformed, or outside what the deployment
// allows. Every task of the job fails with it (PermanentFailure).
type ArgumentError struct {
	Name   string // the user argument or environment variable
	Reason string
}

func (e *ArgumentError) Error() string {
	return fmt.Sprintf("invalid job configuration: %s: %s", e.Name, e.Reason)
}

func argErr(name, format string, args ...any) error {
	return &ArgumentError{Name: name, Reason: fmt.Sprintf(format, args...)}
}

// resolve applies a job's user arguments (nil for schema 1.0) to the
// deployment's configuration.
func (c *Config) resolve(args map[string]string) (*settings, error) {
	if c.ConfigError != nil {
		return nil, c.ConfigError
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if len(args) > MaxUserArguments {
		return nil, argErr("userArguments", "%d entries, at most %d allowed", len(args), MaxUserArguments)
	}
	names := make([]string, 0, len(args))
	for name := range args {
		names = append(names, name)
	}
	slices.Sort(names) // the first error is the same on every invocation
	for _, name := range names {
		if !slices.Contains(argNames, name) {
			return nil, argErr(quoteName(name), "unknown user argument (known: %s)", strings.Join(argNames, ", "))
		}
		v := args[name]
		if !utf8.ValidString(v) {
			return nil, argErr(name, "value is not valid UTF-8")
		}
		if n := utf8.RuneCountInString(v); n > MaxUserArgumentLen {
			return nil, argErr(name, "value has %d characters, at most %d allowed", n, MaxUserArgumentLen)
		}
	}
	arg := func(name string) (string, bool) {
		v, ok := args[name]
		return strings.TrimSpace(v), ok
	}
	s := &settings{
		operation: c.Operation, policy: c.CommitmentPolicy, legacy: c.EnableLegacy,
		dryRun: c.DryRun, force: c.Force, kmsRate: c.KMSRequestsPerSecond, kmsAttempts: c.KMSMaxAttempts,
		suffix: c.InstructionFileSuffix, pathStyle: c.S3UsePathStyle, cacheObjects: c.DataKeyCacheMaxObjects,
		encryptionContext: c.EncryptionContext, expectedContext: c.ExpectedEncryptionContext,
	}
	var err error

	// The operation: one the deployment allows.
	if v, ok := arg(ArgOperation); ok {
		s.operation = v
	}
	if s.operation == "" {
		return nil, argErr(ArgOperation, "not set (user argument %s or environment %s)", ArgOperation, EnvOperation)
	}
	if !slices.Contains(allOperations, s.operation) {
		return nil, argErr(ArgOperation, "unknown operation %q (one of %s)", s.operation, strings.Join(allOperations, ", "))
	}
	if !slices.Contains(c.allowedOperations(), s.operation) {
		return nil, argErr(ArgOperation, "operation %q is not allowed by this deployment (%s: %s)", s.operation, EnvAllowedOperations, strings.Join(c.allowedOperations(), ","))
	}

	// The readable keys: the deployment's, or a subset of them.
	s.readable = slices.Clone(c.ReadableKMSKeyARNs)
	if v, ok := arg(ArgKMSKeyIDs); ok {
		want := splitList(v)
		if len(want) == 0 {
			return nil, argErr(ArgKMSKeyIDs, "empty list")
		}
		for _, k := range want {
			if !slices.Contains(c.ReadableKMSKeyARNs, k) {
				return nil, argErr(ArgKMSKeyIDs, "key %q is not one of the deployment's readable keys (%s)", k, EnvKMSKeyIDs)
			}
		}
		s.readable = want
	}
	slices.Sort(s.readable)
	s.readable = slices.Compact(s.readable)

	// The target key: one of the deployment's allowed targets.
	if s.operation == OpRewrap || s.operation == OpReEncrypt || s.operation == OpAdopt {
		s.target = c.TargetKMSKeyID
		if v, ok := arg(ArgTargetKMSKeyID); ok {
			if !slices.Contains(c.allowedTargets(), v) {
				return nil, argErr(ArgTargetKMSKeyID, "key %q is not an allowed target of this deployment (%s, %s)", v, EnvTargetKMSKeyID, EnvAllowedTargetKMSKeyIDs)
			}
			s.target = v
		}
		if s.target == "" {
			return nil, argErr(ArgTargetKMSKeyID, "operation %s needs a target key and the deployment sets none (%s)", s.operation, EnvTargetKMSKeyID)
		}
	} else if _, ok := arg(ArgTargetKMSKeyID); ok {
		return nil, argErr(ArgTargetKMSKeyID, "operation %s writes nothing and takes no target key", s.operation)
	}
	if s.operation != OpInspect && s.operation != OpAdopt && len(s.readable) == 0 {
		return nil, argErr(ArgKMSKeyIDs, "operation %s reads encrypted objects and the deployment allows no readable key (%s)", s.operation, EnvKMSKeyIDs)
	}

	if v, ok := arg(ArgEncryptionContext); ok {
		if s.encryptionContext, err = parseContext(v); err != nil {
			return nil, argErr(ArgEncryptionContext, "%v", err)
		}
	}
	if v, ok := arg(ArgExpectedContext); ok {
		if s.expectedContext, err = parseContext(v); err != nil {
			return nil, argErr(ArgExpectedContext, "%v", err)
		}
	}
	if v, ok := arg(ArgCommitmentPolicy); ok {
		p, err := encryptionclient.ParseCommitmentPolicy(v)
		if err != nil {
			return nil, argErr(ArgCommitmentPolicy, "%v", err)
		}
		// The policies are ordered from the strictest; a job may tighten
		// the deployment's, never loosen it.
		if p > c.CommitmentPolicy {
			return nil, argErr(ArgCommitmentPolicy, "%s is weaker than the deployment's %s (%s)", p, c.CommitmentPolicy, EnvCommitmentPolicy)
		}
		s.policy = p
	}
	if v, ok := arg(ArgDryRun); ok {
		if s.dryRun, err = parseBool(v); err != nil {
			return nil, argErr(ArgDryRun, "%v", err)
		}
	}
	if v, ok := arg(ArgForce); ok {
		if s.force, err = parseBool(v); err != nil {
			return nil, argErr(ArgForce, "%v", err)
		}
		if s.force && s.operation != OpReEncrypt {
			return nil, argErr(ArgForce, "only operation reencrypt takes force")
		}
	}
	if v, ok := arg(ArgKMSRequestsPerSecond); ok {
		r, err := parseRate(v, false)
		if err != nil {
			return nil, argErr(ArgKMSRequestsPerSecond, "%v", err)
		}
		if c.KMSRequestsPerSecond > 0 && r > c.KMSRequestsPerSecond {
			return nil, argErr(ArgKMSRequestsPerSecond, "%g is above the deployment's limit %g (%s)", r, c.KMSRequestsPerSecond, EnvKMSRequestsPerSecond)
		}
		s.kmsRate = r
	}
	if v, ok := arg(ArgInstructionFileSuffix); ok {
		if err := checkSuffix(v); err != nil {
			return nil, argErr(ArgInstructionFileSuffix, "%v", err)
		}
		// Adopt tells an object whose envelope is only in an instruction
		// file (and an unmarked instruction file) by the suffix: another
		// suffix would make it take them for plaintext and encrypt them
		// in place. An adopt job keeps the deployment's.
		if deployed := cmp.Or(c.InstructionFileSuffix, envelope.DefaultInstructionSuffix); s.operation == OpAdopt && v != deployed {
			return nil, argErr(ArgInstructionFileSuffix, "operation adopt uses the deployment's suffix %q (%s): another would take objects whose envelope is in a %q instruction file for plaintext", deployed, EnvInstructionFileSuffix, deployed)
		}
		s.suffix = v
	}
	return s, nil
}

var argNames = []string{
	ArgOperation, ArgTargetKMSKeyID, ArgKMSKeyIDs, ArgEncryptionContext, ArgExpectedContext, ArgCommitmentPolicy,
	ArgDryRun, ArgKMSRequestsPerSecond, ArgInstructionFileSuffix, ArgForce,
}

// quoteName shows an unknown argument name safely (it is the job
// creator's text).
func quoteName(name string) string {
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	return strconv.Quote(name)
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

func parseRate(v string, zeroOK bool) (float64, error) {
	r, err := strconv.ParseFloat(v, 64)
	// At least 0.01 (one request every 100 s): a rate of 1e-300 waited
	// forever for its first request.
	if err != nil || math.IsNaN(r) || math.IsInf(r, 0) || r < 0 || (r == 0 && !zeroOK) || (r > 0 && r < 0.01) || r > 1e6 {
		return 0, fmt.Errorf("%q is not a number of requests per second (at least 0.01, at most 1e6)", v)
	}
	return r, nil
}

// parseContext parses an encryption-context argument: one flat JSON object
// of strings, strictly (envelope.ParseDescription: a name given twice, a
// value that is not a string or text after the object is refused), so the
// context a reviewer reads in the job's arguments is the one used.
func parseContext(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, errors.New(`not a JSON object of strings, e.g. {"purpose":"backup"}`)
	}
	m, err := envelope.ParseDescription(v)
	if err != nil {
		return nil, fmt.Errorf(`not a JSON object of strings, e.g. {"purpose":"backup"}: %v`, err)
	}
	for k := range m {
		if k == "" {
			return nil, errors.New("empty context key")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, fmt.Errorf("context key %q is reserved", k)
		}
	}
	return m, nil
}

func checkSuffix(v string) error {
	if v == "" || len(v) > 128 {
		return errors.New("must be 1 to 128 characters")
	}
	for _, r := range v {
		if r < 0x21 || r > 0x7e || r == '/' {
			return errors.New("must be printable ASCII without spaces or '/'")
		}
	}
	return nil
}

// isKeyARN reports whether arn is a KMS key ARN.
func isKeyARN(arn string) bool {
	p := strings.SplitN(arn, ":", 6)
	return len(p) == 6 && p[0] == "arn" && p[1] != "" && p[2] == "kms" && p[3] != "" && p[4] != "" &&
		strings.HasPrefix(p[5], "key/") && len(p[5]) > len("key/")
}
