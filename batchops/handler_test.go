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

	// The rerun: every object is already under the target key, nothing is
	// written (no new version).
	before := map[string]int{}
	for _, o := range objs {
		before[o.key] = f.objectVersions(o.key)
		o.version = ""
	}
	var current []testObject
	for _, o := range objs {
		current = append(current, testObject{key: o.key, encoded: o.encoded})
	}
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, current)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "already-current")
	for _, o := range objs {
		if n := f.objectVersions(o.key); n != before[o.key] {
			t.Errorf("%q: %d versions after the rerun, %d before", o.key, n, before[o.key])
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
	h := f.handler(map[string]string{EnvKMSMaxAttempts: "3"})
	f.kms.ResetCalls()
	f.kms.FailEvery("*", "ThrottlingException", 1)
	args := map[string]string{ArgOperation: OpRewrap, ArgKMSKeyIDs: f.oldARN}
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(args, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, r, "TemporaryFailure", "ThrottlingException")
	// Each ReEncrypt request (the rewrap asks KMS with the stored key as
	// the source, then whether the key is already under the target) was
	// attempted S3EC_KMS_MAX_ATTEMPTS times.
	if n := f.kms.Calls("ReEncrypt"); n < 3 || n%3 != 0 {
		t.Errorf("%d ReEncrypt attempts, want a multiple of 3 (S3EC_KMS_MAX_ATTEMPTS): %+v", n, f.kms.CallLog())
	}
	// Throttling that clears within the retries succeeds.
	f.kms.FailEvery("*", "", 0)
	f.kms.FailNext("ReEncrypt", "ThrottlingException", 2)
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
	h := f.handler(nil)
	for _, op := range []string{OpVerify, OpReEncrypt} {
		r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: op, ArgForce: map[string]string{OpVerify: "false", OpReEncrypt: "true"}[op]}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
		wantResults(t, r, "PermanentFailure", "AuthenticationFailed")
	}
	if n := f.objectVersions(objs[0].key); n != 2 {
		t.Errorf("%d versions, want 2 (the original and the tampered one; nothing written)", n)
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
	for arn, want := range map[string]string{
		"arn:aws:s3:::my-bucket":     "my-bucket",
		"arn:aws-cn:s3:::b.c":        "b.c",
		"arn:aws:s3:::":              "",
		"arn:aws:s3:::b/k":           "",
		"arn:aws:s3:us-east-1:123:b": "",
		"arn:aws:kms:::b":            "",
		"my-bucket":                  "",
		"arn:aws:s3:::b:with:colons": "",
	} {
		got, err := bucketFromARN(arn)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("bucketFromARN(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	s := truncate(strings.Repeat("é", 1000)+"\nline", MaxResultString)
	if len(s) > MaxResultString || strings.ContainsAny(s, "\n") || !strings.HasSuffix(s, "...") {
		t.Errorf("truncate: %d bytes %q", len(s), s[len(s)-10:])
	}
}
