package batchops

import (
	"context"
	"testing"
)

// The job creator's JSON contexts (encryptionContext,
// expectedEncryptionContext) must have one meaning: a name given twice
// ({"department":"sales","department":"finance"}), which encoding/json
// silently resolves to the last value and other JSON readers (a reviewer's
// tool, a policy check run on the job definition) may resolve to the
// first, and text after the object, are not a context. The threat model
// promises user arguments "parsed strictly"; such a job must fail every
// task as InvalidJobConfiguration before any KMS request, as a malformed
// context does.
func TestAttackContextArgumentsOneMeaning(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:1]
	h := f.handler(nil)
	for _, tc := range []struct{ name, arg, value string }{
		{"duplicate name, expected", ArgExpectedContext, `{"department":"sales","department":"finance"}`},
		{"duplicate name, new", ArgEncryptionContext, `{"department":"sales","department":"finance"}`},
		{"trailing brace", ArgExpectedContext, `{}}`},
		{"trailing bracket", ArgEncryptionContext, `{"a":"b"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.kms.ResetCalls()
			args := map[string]string{ArgOperation: OpVerify, tc.arg: tc.value}
			if tc.arg == ArgEncryptionContext {
				// A new context is an argument of the write operations.
				args = map[string]string{ArgOperation: OpRewrap, ArgDryRun: "true", tc.arg: tc.value}
			}
			ev := eventV2(args, f.bucket, objs)
			r := decodeResponse(t, invoke(t, context.Background(), h, ev), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
			wantResults(t, r, "PermanentFailure", "InvalidJobConfiguration: invalid job configuration: "+tc.arg+":")
			if n := len(f.kms.CallLog()); n != 0 {
				t.Errorf("%d KMS requests for a job whose %s is %s", n, tc.arg, tc.value)
			}
		})
	}
}
