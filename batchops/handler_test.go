package batchops

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// invoke drives the handler through the aws-lambda-go runtime's handler
// (lambda.NewHandler), as lambda.Start does, with a JSON event.
func invoke(t *testing.T, ctx context.Context, h *Handler, payload []byte) []byte {
	t.Helper()
	out, err := lambda.NewHandler(h).Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	return out
}

func wantResults(t *testing.T, r events.S3BatchJobResponse, code, contains string) {
	t.Helper()
	for _, res := range r.Results {
		if res.ResultCode != code || !strings.Contains(res.ResultString, contains) {
			t.Errorf("task %s: %s %q, want %s containing %q", res.TaskID, res.ResultCode, res.ResultString, code, contains)
		}
		if len(res.ResultString) > MaxResultString {
			t.Errorf("task %s: result string of %d bytes", res.TaskID, len(res.ResultString))
		}
	}
}

// A schema 2.0 rewrap job through lambda.NewHandler: URL-encoded keys with
// spaces, unicode, '+' and '%', version ids; the objects then read with
// the new key and not the old, and a rerun changes nothing.
func TestLambdaHandlerRewrapV2(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)
	written := map[string]string{}
	for _, o := range objs {
		written[o.key] = f.fingerprint(o.key)
	}
	h := f.handler(nil)
	ev := eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)
	r := decodeResponse(t, invoke(t, context.Background(), h, ev), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "rewrapped")
	for i, res := range r.Results {
		if res.TaskID != "dGFza2lk"+string(rune('A'+i)) {
			t.Errorf("result %d has task id %q", i, res.TaskID)
		}
	}
	f.checkRewrapped(objs)
	for _, o := range objs {
		if f.fingerprint(o.key) == written[o.key] {
			t.Errorf("%q: the rewrap left no trace in the fingerprint", o.key)
		}
	}

	// The rerun: every object is already under the target key, nothing is
	// written (no new version).
	before := map[string]string{}
	for _, o := range objs {
		before[o.key] = f.fingerprint(o.key)
	}
	var current []testObject
	for _, o := range objs {
		current = append(current, testObject{key: o.key, encoded: o.encoded})
	}
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, current)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "already-current")
	for _, o := range objs {
		if got := f.fingerprint(o.key); got != before[o.key] {
			t.Errorf("%q was written by the rerun:\n%s\n%s", o.key, before[o.key], got)
		}
	}
	if len(h.clients) != 1 {
		t.Errorf("%d client sets after two invocations of one configuration, want 1", len(h.clients))
	}
}

// The reflection path of aws-lambda-go (lambda.NewHandler(h.HandleV2))
// decodes the same JSON event into events.S3BatchJobEventV2.
func TestLambdaHandlerTypedV2(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)
	h := f.handler(nil)
	out, err := lambda.NewHandler(h.HandleV2).Invoke(context.Background(), eventV2(map[string]string{ArgOperation: OpVerify}, f.bucket, objs))
	if err != nil {
		t.Fatal(err)
	}
	r := decodeResponse(t, out, "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "verified")
}

// Schema 1.0 has no user arguments: the environment is the whole job
// configuration, and the bucket comes from s3BucketArn.
func TestLambdaHandlerV1FromEnvironment(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)
	h := f.handler(map[string]string{EnvOperation: OpRewrap})
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV1("arn:aws:s3:::"+f.bucket, objs)), "1.0", "djEtaW52b2NhdGlvbg", len(objs))
	wantResults(t, r, "Succeeded", "rewrapped")
	f.checkRewrapped(objs)

	// A task whose ARN is not a bucket ARN fails alone.
	bad := eventV1("arn:aws:s3:::"+f.bucket+"/key", objs[:1])
	r = decodeResponse(t, invoke(t, context.Background(), h, bad), "1.0", "djEtaW52b2NhdGlvbg", 1)
	wantResults(t, r, "PermanentFailure", "s3BucketArn")
}

// A job that names an invalid or disallowed configuration fails every task
// with PermanentFailure and a message that names the argument, and
// touches nothing.
func TestInvalidUserArgumentsFailEveryTask(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)
	otherARN := f.kms.KeyARN(f.kms.CreateKey())
	h := f.handler(map[string]string{EnvKMSRequestsPerSecond: "50", EnvCommitmentPolicy: "REQUIRE_ENCRYPT_ALLOW_DECRYPT"})
	long := strings.Repeat("x", MaxUserArgumentLen+1)
	eleven := map[string]string{ArgOperation: OpVerify}
	for i := range 10 {
		eleven["extra"+string(rune('a'+i))] = "1"
	}
	for _, tc := range []struct {
		name string
		args map[string]string
		want string
	}{
		{"unknown name", map[string]string{ArgOperation: OpRewrap, "targetKeyArn": f.newARN}, `"targetKeyArn": unknown user argument`},
		{"too many entries", eleven, "userArguments: 11 entries"},
		{"value too long", map[string]string{ArgOperation: OpRewrap, ArgEncryptionContext: long}, "encryptionContext: value has 1025 characters"},
		{"unknown operation", map[string]string{ArgOperation: "delete"}, "operation: unknown operation"},
		{"adopt not allowed", map[string]string{ArgOperation: OpAdopt}, "operation: operation \"adopt\" is not allowed"},
		{"target outside the allow-list", map[string]string{ArgOperation: OpRewrap, ArgTargetKMSKeyID: otherARN}, "targetKmsKeyId: key"},
		{"readable key outside the list", map[string]string{ArgOperation: OpVerify, ArgKMSKeyIDs: f.oldARN + "," + otherARN}, "kmsKeyIds: key"},
		{"weaker commitment policy", map[string]string{ArgOperation: OpReEncrypt, ArgCommitmentPolicy: "FORBID_ENCRYPT_ALLOW_DECRYPT"}, "commitmentPolicy: FORBID_ENCRYPT_ALLOW_DECRYPT is weaker"},
		{"higher KMS rate", map[string]string{ArgOperation: OpRewrap, ArgKMSRequestsPerSecond: "500"}, "kmsRequestsPerSecond: 500 is above"},
		{"KMS rate too small to ever send", map[string]string{ArgOperation: OpRewrap, ArgKMSRequestsPerSecond: "1e-300"}, "kmsRequestsPerSecond: \"1e-300\" is not a number of requests per second"},
		{"malformed context", map[string]string{ArgOperation: OpRewrap, ArgEncryptionContext: `{"a":1}`}, "encryptionContext: not a JSON object"},
		{"reserved context key", map[string]string{ArgOperation: OpRewrap, ArgEncryptionContext: `{"aws:x-amz-cek-alg":"x"}`}, "encryptionContext: context key"},
		{"malformed dryRun", map[string]string{ArgOperation: OpRewrap, ArgDryRun: "yes"}, "dryRun:"},
		{"force on rewrap", map[string]string{ArgOperation: OpRewrap, ArgForce: "true"}, "force: only operation reencrypt"},
		{"bad suffix", map[string]string{ArgOperation: OpRewrap, ArgInstructionFileSuffix: "../x y"}, "instructionFileSuffix:"},
		{"target for verify", map[string]string{ArgOperation: OpVerify, ArgTargetKMSKeyID: f.newARN}, "targetKmsKeyId: operation verify writes nothing"},
		{"no operation", map[string]string{}, "operation: not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.kms.ResetCalls()
			r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(tc.args, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
			wantResults(t, r, "PermanentFailure", "InvalidJobConfiguration: invalid job configuration: "+tc.want)
			if n := len(f.kms.CallLog()); n != 0 {
				t.Errorf("%d KMS calls for an invalid job", n)
			}
		})
	}
	// Nothing was rewritten.
	for _, o := range objs {
		if _, err := f.read(f.oldARN, o.key); err != nil {
			t.Errorf("%q no longer reads with the old key: %v", o.key, err)
		}
	}
	// A valid narrowing and a lower rate are accepted.
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{
		ArgOperation: OpVerify, ArgKMSKeyIDs: f.oldARN, ArgKMSRequestsPerSecond: "10", ArgCommitmentPolicy: "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
	}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "verified")
}

// Narrowing the readable keys is enforced by the keyring: a verify job
// limited to the new key cannot read objects of the old one.
func TestReadableKeysNarrowed(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)
	h := f.handler(nil)
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpVerify, ArgKMSKeyIDs: f.newARN}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "PermanentFailure", "")
}

// A deployment whose environment is invalid fails every task permanently,
// naming the variable.
func TestInvalidDeploymentFailsEveryTask(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)
	for k, v := range f.env(map[string]string{EnvKMSKeyIDs: "alias/not-an-arn"}) {
		t.Setenv(k, v)
	}
	cfg, err := ConfigFromEnv(context.Background())
	if err == nil || !strings.Contains(err.Error(), EnvKMSKeyIDs) {
		t.Fatalf("ConfigFromEnv: %v, want an error naming %s", err, EnvKMSKeyIDs)
	}
	r := decodeResponse(t, invoke(t, context.Background(), NewHandler(cfg), eventV2(map[string]string{ArgOperation: OpVerify}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "PermanentFailure", "InvalidDeployment: batchops: readable key (S3EC_KMS_KEY_IDS)")
}

// KMS throttling that outlasts the retries is a TemporaryFailure (Batch
// retries the task later); the retries were made.
func TestThrottlingIsTemporaryFailure(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:1]
	h := f.handler(map[string]string{EnvKMSMaxAttempts: "2"})
	f.kms.ResetCalls()
	f.kms.FailEvery("*", "ThrottlingException", 1)
	args := map[string]string{ArgOperation: OpRewrap, ArgKMSKeyIDs: f.oldARN}
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(args, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, r, "TemporaryFailure", "ThrottlingException")
	// Each ReEncrypt request (the rewrap asks KMS with the stored key as
	// the source, then whether the key is already under the target) was
	// attempted S3EC_KMS_MAX_ATTEMPTS times.
	if n := f.kms.Calls("ReEncrypt"); n < 2 || n%2 != 0 {
		t.Errorf("%d ReEncrypt attempts, want a multiple of 2 (S3EC_KMS_MAX_ATTEMPTS): %+v", n, f.kms.CallLog())
	}
	// Throttling that clears within the retries succeeds.
	f.kms.FailEvery("*", "", 0)
	f.kms.FailNext("ReEncrypt", "ThrottlingException", 1)
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, r, "Succeeded", "rewrapped")
	f.checkRewrapped(objs)
}

// A tampered object fails verification (and re-encryption) permanently.
func TestTamperedObjectIsPermanentFailure(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:1]
	objs[0].version = ""
	f.tamper(objs[0].key)
	before := f.fingerprint(objs[0].key)
	h := f.handler(nil)
	for _, op := range []string{OpVerify, OpReEncrypt} {
		r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: op, ArgForce: map[string]string{OpVerify: "false", OpReEncrypt: "true"}[op]}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
		wantResults(t, r, "PermanentFailure", "AuthenticationFailed")
	}
	if got := f.fingerprint(objs[0].key); got != before {
		t.Errorf("the tampered object was written:\n%s\n%s", before, got)
	}
}

// A task does not start when the Lambda deadline is nearer than the
// margin; one that runs out of time is a TemporaryFailure too.
func TestDeadlineNearIsTemporaryFailure(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:1]
	h := f.handler(nil) // default margin 15s
	f.kms.ResetCalls()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := decodeResponse(t, invoke(t, ctx, h, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, r, "TemporaryFailure", "DeadlineNear")
	if n := len(f.kms.CallLog()); n != 0 {
		t.Errorf("%d KMS calls for a task that should not start", n)
	}

	// Margin 1s, 2s left: the task starts with 1s, and KMS takes 3s.
	h = f.handler(map[string]string{EnvDeadlineMargin: "1s"})
	f.kms.SetDelay("ReEncrypt", 3*time.Second)
	defer f.kms.SetDelay("ReEncrypt", 0)
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	r = decodeResponse(t, invoke(t, ctx, h, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, r, "TemporaryFailure", "Timeout")
	if d := time.Since(start); d > 1800*time.Millisecond {
		t.Errorf("the task ended %s after the start, after the Lambda deadline less the margin", d)
	}
	if _, err := f.read(f.oldARN, objs[0].key); err != nil {
		t.Errorf("the object no longer reads with the old key: %v", err)
	}
}

// Events of another schema are a Lambda error (there is no task to report
// on); malformed tasks fail alone.
func TestSchemaDispatch(t *testing.T) {
	h := NewHandler(Config{Operation: OpInspect})
	for _, p := range []string{`{"invocationSchemaVersion":"3.0","tasks":[]}`, `{"tasks":[]}`, `[1]`} {
		if _, err := h.Invoke(context.Background(), []byte(p)); err == nil {
			t.Errorf("%s: no error", p)
		} else if p != `[1]` && !errors.Is(err, ErrSchema) {
			t.Errorf("%s: %v, want ErrSchema", p, err)
		}
	}
	if _, err := h.HandleV2(context.Background(), events.S3BatchJobEventV2{InvocationSchemaVersion: "1.0"}); !errors.Is(err, ErrSchema) {
		t.Errorf("HandleV2 of 1.0: %v", err)
	}
	if _, err := h.HandleV1(context.Background(), events.S3BatchJobEvent{InvocationSchemaVersion: "2.0"}); !errors.Is(err, ErrSchema) {
		t.Errorf("HandleV1 of 2.0: %v", err)
	}
	ev := `{"invocationSchemaVersion":"2.0","invocationId":"i","job":{"id":"j","userArguments":{"operation":"inspect"}},"tasks":[` +
		`{"taskId":"t1","s3Key":"","s3Bucket":"b"},{"taskId":"t2","s3Key":"bad%zz","s3Bucket":"b"},{"taskId":"t3","s3Key":"k","s3Bucket":""}]}`
	out, err := h.Invoke(context.Background(), []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	r := decodeResponse(t, out, "2.0", "i", 3)
	wantResults(t, r, "PermanentFailure", "InvalidTask: ")
	var raw map[string]any
	if err := json.Unmarshal(out, &raw); err != nil || raw["treatMissingKeysAs"] != "PermanentFailure" {
		t.Errorf("response %s", out)
	}
}

// A task of a bucket outside S3EC_BUCKETS fails permanently.
func TestBucketAllowList(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:1]
	h := f.handler(map[string]string{EnvBuckets: "some-other-bucket"})
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, r, "PermanentFailure", "BucketNotAllowed")
}

func TestBucketFromARN(t *testing.T) {
	for _, c := range []struct{ arn, partition, want string }{
		{"arn:aws:s3:::my-bucket", "aws", "my-bucket"},
		{"arn:aws-cn:s3:::b.c", "aws-cn", "b.c"},
		{"arn:aws-us-gov:s3:::b", "aws-us-gov", "b"},
		{"arn:aws-cn:s3:::b.c", "aws", ""},
		{"arn:aws:s3:::b", "aws-cn", ""},
		{"arn:AWS:s3:::b", "aws", ""},
		{"arn:aws:s3:::b", "", ""},
		{"arn:aws:s3:::", "aws", ""},
		{"arn:aws:s3:::b/k", "aws", ""},
		{"arn:aws:s3:us-east-1:123:b", "aws", ""},
		{"arn:aws:kms:::b", "aws", ""},
		{"my-bucket", "aws", ""},
		{"arn:aws:s3:::b:with:colons", "aws", ""},
	} {
		got, err := bucketFromARN(c.arn, c.partition)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("bucketFromARN(%q, %q) = %q, %v; want %q", c.arn, c.partition, got, err, c.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	s := truncate(strings.Repeat("é", 1000)+"\nline", MaxResultString)
	if len(s) > MaxResultString || strings.ContainsAny(s, "\n") || !strings.HasSuffix(s, "...") {
		t.Errorf("truncate: %d bytes %q", len(s), s[len(s)-10:])
	}
}

// A reencrypt job moves V2 objects to V3 under the target key; the new
// data keys come from the cache (one GenerateDataKey for the job, kept
// across invocations), and a rerun writes nothing.
func TestReEncryptV2ToV3WithDataKeyCache(t *testing.T) {
	f := newFixture(t)
	var objs []testObject
	for _, k := range f.keys() {
		f.putWith(encryptionclient.ForbidEncryptAllowDecrypt, f.oldARN, k.key, "body of "+k.key)
		objs = append(objs, testObject{key: k.key, encoded: k.encode(k.key)})
		if got := f.format(k.key); got != envelope.FormatV2 {
			t.Fatalf("%q written as %v, want V2", k.key, got)
		}
	}
	h := f.handler(map[string]string{EnvCommitmentPolicy: "REQUIRE_ENCRYPT_ALLOW_DECRYPT"})
	f.kms.ResetCalls()
	args := map[string]string{ArgOperation: OpReEncrypt}
	// One invocation per task, as Batch sends them.
	for _, o := range objs {
		r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(args, f.bucket, []testObject{o})), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
		wantResults(t, r, "Succeeded", "reencrypted: V2 to V3")
	}
	if n := f.kms.Calls("GenerateDataKey"); n != 1 {
		t.Errorf("%d GenerateDataKey calls for %d objects, want 1 (the cached data key)", n, len(objs))
	}
	for _, o := range objs {
		if got := f.format(o.key); got != envelope.FormatV3 {
			t.Errorf("%q is %v after reencrypt, want V3", o.key, got)
		}
	}
	f.checkRewrapped(objs)

	before := map[string]string{}
	for _, o := range objs {
		before[o.key] = f.fingerprint(o.key)
	}
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(args, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "already-current")
	for _, o := range objs {
		if got := f.fingerprint(o.key); got != before[o.key] {
			t.Errorf("%q was written by the rerun:\n%s\n%s", o.key, before[o.key], got)
		}
	}
}

// Adopt is the deployment's opt-in: once allowed, a job encrypts plaintext
// objects in place under the target key, and skips encrypted ones; inspect
// then reports the envelope.
func TestAdoptAndInspect(t *testing.T) {
	f := newFixture(t)
	var objs []testObject
	for _, k := range f.keys() {
		if _, err := f.raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(k.key), Body: strings.NewReader("body of " + k.key)}); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, testObject{key: k.key, encoded: k.encode(k.key)})
	}
	h := f.handler(map[string]string{EnvAllowedOperations: "adopt,inspect"})
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpAdopt}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "adopted: V3")
	for _, o := range objs {
		if got, err := f.read(f.newARN, o.key); err != nil || got != "body of "+o.key {
			t.Errorf("%q after adopt: %q, %v", o.key, got, err)
		}
	}
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpAdopt}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "already-encrypted")
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpInspect}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "inspected: V3")
	// The deployment allows no rewrap.
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "PermanentFailure", "operation \"rewrap\" is not allowed")
}

// Objects whose data keys are bound to an encryption context are read only
// when the job names that context (expectedEncryptionContext); a rewrap
// keeps it without.
func TestExpectedEncryptionContext(t *testing.T) {
	f := newFixture(t)
	ec := map[string]string{"department": "finance"}
	kr, err := materials.NewKMSKeyring(f.kms.Client(), f.oldARN)
	if err != nil {
		t.Fatal(err)
	}
	c, err := encryptionclient.New(f.raw, kr)
	if err != nil {
		t.Fatal(err)
	}
	var objs []testObject
	for _, k := range f.keys()[:2] {
		if _, err := c.PutObject(encryptionclient.WithEncryptionContext(context.Background(), ec), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(k.key), Body: strings.NewReader("body of " + k.key)}); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, testObject{key: k.key, encoded: k.encode(k.key)})
	}
	h := f.handler(nil)
	// A rewrap keeps the stored context (KMS ReEncrypt under it) and needs
	// none named.
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "rewrapped")
	// A read (verify) must name it.
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpVerify}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "PermanentFailure", "ContextMismatch")
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpVerify, ArgExpectedContext: `{"department":"finance"}`}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "verified")
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpVerify, ArgExpectedContext: `{"department":"sales"}`}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "PermanentFailure", "ContextMismatch")
	// A reencrypt reads with it and binds the new data key to the same
	// context.
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpReEncrypt, ArgForce: "true", ArgExpectedContext: `{"department":"finance"}`}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "reencrypted")
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpVerify, ArgExpectedContext: `{"department":"finance"}`}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "verified")
}

// The job's kmsRequestsPerSecond (below the deployment's) limits the KMS
// requests of the function: 4 Decrypts at 2 per second (burst 2) take at
// least a second.
func TestKMSRequestsPerSecond(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)
	for len(objs) < 4 {
		objs = append(objs, objs[0])
	}
	h := f.handler(map[string]string{EnvKMSRequestsPerSecond: "100"})
	f.kms.ResetCalls()
	start := time.Now()
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpVerify, ArgKMSRequestsPerSecond: "2"}, f.bucket, objs[:4])), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 4)
	elapsed := time.Since(start)
	wantResults(t, r, "Succeeded", "verified")
	if n := f.kms.Calls("Decrypt"); n != 4 {
		t.Fatalf("%d Decrypt calls, want 4", n)
	}
	if elapsed < 900*time.Millisecond {
		t.Errorf("4 KMS requests at 2 per second took %s", elapsed)
	}
}
