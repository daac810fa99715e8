package batchops

// A defect an outside review found, fixed (the comment says what happened
// before): the result code of a conditional write that S3
// answers with 409 ConditionalRequestConflict.

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// Every write of a bulk operation is conditional (If-Match on the ETag it
// read). S3 answers a conditional PutObject or CompleteMultipartUpload
// that meets a concurrent operation on the key with 409
// ConditionalRequestConflict, and documents it as retryable ("retry the
// upload"): it is a concurrent write, which THREAT-MODEL and BULK-JOBS
// call a TemporaryFailure (as ObjectChanged, the 412). Reported as a
// PermanentFailure, Batch never retries the task: the object stays under
// the old key or format although a retry seconds later would have
// rewritten it.
func TestAttackConditionalConflictIsTemporary(t *testing.T) {
	f := newFixture(t)
	key := "conflict/object.txt"
	f.putWith(encryptionclient.ForbidEncryptAllowDecrypt, f.oldARN, key, "body of "+key)
	if got := f.format(key); got != envelope.FormatV2 {
		t.Fatalf("written as %v, want V2", got)
	}
	target, err := url.Parse(f.s3.URL)
	if err != nil {
		t.Fatal(err)
	}
	next := httputil.NewSingleHostReverseProxy(target)
	var conflicts atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// The conditional write of the re-encrypted object (a PUT of the
		// key, not a part, not a copy).
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/"+key) && r.Header.Get("If-Match") != "" &&
			!r.URL.Query().Has("partNumber") && r.Header.Get("X-Amz-Copy-Source") == "" && conflicts.Add(1) == 1 {
			io.Copy(io.Discard, r.Body)
			rw.Header().Set("Content-Type", "application/xml")
			rw.WriteHeader(http.StatusConflict)
			io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code><Message>A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.</Message></Error>`)
			return
		}
		next.ServeHTTP(rw, r)
	}))
	t.Cleanup(proxy.Close)

	h := f.handler(map[string]string{EnvCommitmentPolicy: "REQUIRE_ENCRYPT_ALLOW_DECRYPT", "AWS_ENDPOINT_URL_S3": proxy.URL})
	args := map[string]string{ArgOperation: OpReEncrypt}
	obj := testObject{key: key, encoded: url.QueryEscape(key)}
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(args, f.bucket, []testObject{obj})), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	if conflicts.Load() == 0 {
		t.Fatalf("no conditional PUT of the object was seen: %+v", r.Results)
	}
	res := r.Results[0]
	if got := f.format(key); got != envelope.FormatV2 {
		t.Fatalf("the object is %v after a refused write", got)
	}
	if res.ResultCode != "TemporaryFailure" {
		t.Errorf("409 ConditionalRequestConflict on the conditional write: %s %q, want TemporaryFailure (S3 says retry; Batch retries only a TemporaryFailure)", res.ResultCode, res.ResultString)
	}
	// The retry Batch would make succeeds.
	r = decodeResponse(t, invoke(t, context.Background(), h, eventV2(args, f.bucket, []testObject{obj})), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, r, "Succeeded", "reencrypted: V2 to V3")
}
