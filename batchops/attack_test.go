package batchops

// Attack tests (issue 12): the job creator (user arguments, manifest,
// events) and the bucket writer against the Lambda handler. A test here
// fails while the handler is vulnerable.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
)

// panicOp is an operation whose Do panics (a bug in a keyring, the SDK or
// the library).
type panicOp struct{}

func (panicOp) Name() string { return "verify" }
func (panicOp) Do(context.Context, bulk.Task) bulk.Result {
	panic("secret-bearing panic value")
}

// A task that panics must fail alone (PermanentFailure, without the panic
// value), as bulk.Run makes it fail; a panic out of the handler fails the
// whole invocation, and Batch then marks or retries every task of it.
func TestAttackLambdaTaskPanicFailsOnlyThatTask(t *testing.T) {
	h := NewHandler(Config{CommitmentPolicy: 0})
	var code bulk.TaskStatus
	var msg string
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("a task's panic escaped the handler: %v", p)
			}
		}()
		code, msg = h.runTask(context.Background(), panicOp{}, task{id: "t1", bucket: "b", key: "k"})
	}()
	if code != bulk.PermanentFailure || strings.Contains(msg, "secret-bearing") {
		t.Fatalf("result %s %q", code, msg)
	}
}

// A schema 1.0 task names its bucket by ARN. An ARN of another partition
// (aws-cn, aws-us-gov) names another bucket than the same name in the
// function's partition: it must be refused, not run on the namesake.
func TestAttackLambdaV1BucketARNOtherPartition(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:1]
	h := f.handler(map[string]string{EnvOperation: OpVerify})
	for _, partition := range []string{"aws-cn", "aws-us-gov", "evil"} {
		arn := fmt.Sprintf("arn:%s:s3:::%s", partition, f.bucket)
		r := decodeResponse(t, invoke(t, context.Background(), h, eventV1(arn, objs)), "1.0", "djEtaW52b2NhdGlvbg", 1)
		if res := r.Results[0]; res.ResultCode != "PermanentFailure" || !strings.Contains(res.ResultString, "InvalidTask") {
			t.Errorf("task with bucket ARN %s (function in %s): %s %q; want PermanentFailure InvalidTask", arn, f.s3.Region, res.ResultCode, res.ResultString)
		}
	}
}

// The bucket writer plants an object under a KMS key of their own that
// anyone may use (another account). No job may rewrap, re-encrypt or
// verify it as authentic: every operation is a PermanentFailure, and the
// object neither changes nor reads under the deployment's target key.
func TestAttackLambdaAttackerKeyObject(t *testing.T) {
	f := newFixture(t)
	attacker := f.kms.KeyARN(f.kms.CreateKey(kmstest.WithAccount("444455556666")))
	f.put(attacker, "planted", "attacker data")
	objs := []testObject{{key: "planted", encoded: "planted"}}
	h := f.handler(nil)
	for _, op := range []string{OpRewrap, OpReEncrypt, OpVerify} {
		args := map[string]string{ArgOperation: op}
		if op == OpReEncrypt {
			args[ArgForce] = "true"
		}
		r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(args, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
		if res := r.Results[0]; res.ResultCode != "PermanentFailure" {
			t.Errorf("%s of the attacker's object: %s %q", op, res.ResultCode, res.ResultString)
		}
	}
	if n := f.objectVersions("planted"); n != 1 {
		t.Errorf("%d versions of the planted object, want 1 (nothing written)", n)
	}
	if _, err := f.read(f.newARN, "planted"); err == nil {
		t.Error("the planted object reads under the deployment's target key")
	}
	if got, err := f.read(attacker, "planted"); err != nil || got != "attacker data" {
		t.Errorf("planted object: %q, %v", got, err)
	}
}

// User arguments that try to widen the deployment's allow-lists by
// spelling: another case, an alias, a bare key id, padding and empty list
// entries, a case variant of an argument name. Each fails every task
// permanently, with no KMS request.
func TestAttackLambdaUserArgumentSpellings(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:2]
	h := f.handler(map[string]string{EnvKMSKeyIDs: f.oldARN})
	keyID := f.newARN[strings.LastIndex(f.newARN, "/")+1:]
	for name, args := range map[string]map[string]string{
		"readable new key":         {ArgOperation: OpVerify, ArgKMSKeyIDs: f.newARN},
		"readable upper case":      {ArgOperation: OpVerify, ArgKMSKeyIDs: strings.ToUpper(f.oldARN)},
		"readable bare key id":     {ArgOperation: OpVerify, ArgKMSKeyIDs: f.oldARN[strings.LastIndex(f.oldARN, "/")+1:]},
		"readable alias":           {ArgOperation: OpVerify, ArgKMSKeyIDs: "alias/aws/s3"},
		"readable only commas":     {ArgOperation: OpVerify, ArgKMSKeyIDs: " , ,"},
		"target bare key id":       {ArgOperation: OpRewrap, ArgTargetKMSKeyID: keyID},
		"target upper case":        {ArgOperation: OpRewrap, ArgTargetKMSKeyID: strings.ToUpper(f.newARN)},
		"target two keys":          {ArgOperation: OpRewrap, ArgTargetKMSKeyID: f.newARN + "," + f.oldARN},
		"target alias":             {ArgOperation: OpRewrap, ArgTargetKMSKeyID: "alias/attacker"},
		"operation upper case":     {ArgOperation: "REWRAP"},
		"argument name case":       {"Operation": OpRewrap},
		"operation adopt by space": {ArgOperation: " adopt "},
		"legacy via policy":        {ArgOperation: OpVerify, ArgCommitmentPolicy: "FORBID_ENCRYPT_ALLOW_DECRYPT"},
		"NUL in value":             {ArgOperation: "verify\x00adopt"},
	} {
		t.Run(name, func(t *testing.T) {
			f.kms.ResetCalls()
			r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(args, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
			wantResults(t, r, "PermanentFailure", "InvalidJobConfiguration")
			if n := len(f.kms.CallLog()); n != 0 {
				t.Errorf("%d KMS calls", n)
			}
		})
	}
	for _, o := range objs {
		if _, err := f.read(f.oldARN, o.key); err != nil {
			t.Errorf("%q changed: %v", o.key, err)
		}
	}
}

// One undecodable or empty s3Key fails that task alone; the invocation id
// and every task id are echoed, and result strings stay one line.
func TestAttackLambdaHostileTaskFields(t *testing.T) {
	f := newFixture(t)
	good := f.putUnusual(f.oldARN)[:1]
	good[0].version = ""
	h := f.handler(nil)
	objs := []testObject{good[0], {key: "x", encoded: "%ZZ"}, {key: "y", encoded: "%"}, {key: "", encoded: ""}, {key: "z", encoded: "a%0Ab%0D%00"}}
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpVerify}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	for i, res := range r.Results {
		if res.TaskID != "dGFza2lk"+string(rune('A'+i)) {
			t.Errorf("result %d: task id %q", i, res.TaskID)
		}
		if strings.ContainsAny(res.ResultString, "\r\n\x00") || len(res.ResultString) > MaxResultString {
			t.Errorf("result %d: %q", i, res.ResultString)
		}
		want := "PermanentFailure"
		if i == 0 {
			want = "Succeeded"
		}
		if res.ResultCode != want {
			t.Errorf("task %d (%q): %s %q, want %s", i, objs[i].encoded, res.ResultCode, res.ResultString, want)
		}
	}
}
