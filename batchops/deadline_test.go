package batchops

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// slowParts is a proxy in front of the S3 server that holds every
// UploadPart for delay (or until the client gives up).
func slowParts(t *testing.T, target string, delay time.Duration) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var parts atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			parts.Add(1)
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			case <-done:
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: releases held parts
	return srv.URL, &parts
}

// A reencrypt whose multipart upload outlasts the task's time is cancelled
// at the Lambda deadline less the margin, and its upload is aborted before
// the Lambda deadline: no upload is left, the source is untouched, and the
// result is a TemporaryFailure that Batch retries.
func TestDeadlineAbortsMultipartUploadInTime(t *testing.T) {
	f := newFixture(t)
	if f.s3.Real {
		t.Skip("the slow-part proxy is for the in-process server")
	}
	key := "big/object 17MiB.bin"
	body := bytes.Repeat([]byte("0123456789abcdef"), (17<<20)/16)
	f.putWith(encryptionclient.ForbidEncryptAllowDecrypt, f.oldARN, key, string(body))
	before := f.fingerprint(key)

	slow, parts := slowParts(t, f.s3.URL, 8*time.Second)
	h := f.handler(map[string]string{
		"AWS_ENDPOINT_URL_S3": slow, EnvDeadlineMargin: "2s", EnvCommitmentPolicy: "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second) // the Lambda deadline
	defer cancel()
	start := time.Now()
	objs := []testObject{{key: key, encoded: url.QueryEscape(key)}}
	r := decodeResponse(t, invoke(t, ctx, h, eventV2(map[string]string{ArgOperation: OpReEncrypt}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	elapsed := time.Since(start)
	wantResults(t, r, "TemporaryFailure", "")
	t.Logf("after %s: %s %s", elapsed.Round(time.Millisecond), r.Results[0].ResultCode, r.Results[0].ResultString)
	if parts.Load() == 0 {
		t.Fatalf("no part was uploaded: the object did not take the multipart path (%s)", r.Results[0].ResultString)
	}
	if elapsed >= 6*time.Second {
		t.Errorf("the invocation took %s, past the Lambda deadline (6s)", elapsed)
	}
	if elapsed < 4*time.Second {
		t.Errorf("the task ended after %s, before its deadline (6s less the 2s margin): %s", elapsed, r.Results[0].ResultString)
	}
	ups, err := f.raw.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left", len(ups.Uploads))
	}
	if got := f.fingerprint(key); got != before {
		t.Errorf("the source changed:\n%s\n%s", before, got)
	}
}
