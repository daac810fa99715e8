package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// Every token an Upload delivered, the older ones replayed too (a backup
// restored, a copy kept by mistake), resumed with a source that differs
// in any one part S3 holds, is refused before anything is sent
// (ErrResumeMismatch): either the token records the part and its sum
// differs, or S3 holds a part the token does not record. The first token,
// which records no part, is refused with the right source too; the last
// one resumes to the exact object.
//
// What no check can see: a part whose bytes left the process but that S3
// does not hold (its upload cut by the interrupt) is recorded only by the
// tokens delivered since. A token older than that, resumed with a source
// changed in that part, sends a second ciphertext at that position, so
// only the last token may be resumed (OnResumeToken replaces each token
// with the next, durably).
func TestAttackResumeReplayedOlderToken(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	key := "replayed"
	var mu sync.Mutex
	var all [][]byte
	ctx, cancel := context.WithCancel(e.uploadCtx(context.Background()))
	defer cancel()
	_, err := e.client(kr).Upload(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)},
		e.uploadOpts(func(o *encryptionclient.UploadOptions) {
			o.Concurrency = 2
			o.OnResumeToken = func(tok []byte) error {
				mu.Lock()
				all = append(all, bytes.Clone(tok))
				mu.Unlock()
				return nil
			}
			o.Progress = func(done int64) {
				if done >= 4*e.testPartSize() {
					cancel()
				}
			}
		})...)
	var left *encryptionclient.UploadInterruptedError
	if !errors.As(err, &left) {
		t.Fatalf("interrupted Upload: %v", err)
	}
	held := map[int]bool{} // the parts S3 holds
	for _, p := range e.trueParts(key, left.UploadID) {
		held[int(aws.ToInt32(p.PartNumber))] = true
	}
	if len(held) < 4 || len(all) < 3 {
		t.Fatalf("%d parts held, %d tokens: the test needs at least 4 and 3", len(held), len(all))
	}
	liar := &s3test.Liar{}
	c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(e.testPartSize())
	for i, tok := range all {
		for n := range held {
			changed := bytes.Clone(data)
			changed[(n-1)*ps+7] ^= 1
			if _, err := e.resume(c, key, changed, tok); !errors.Is(err, encryptionclient.ErrResumeMismatch) {
				t.Fatalf("token %d of %d, part %d changed: %v, want ErrResumeMismatch", i+1, len(all), n, err)
			}
			if n := uploadParts(liar.Requests()); n != 0 {
				t.Fatalf("token %d of %d: %d parts sent", i+1, len(all), n)
			}
		}
	}
	if _, err := e.resume(c, key, data, all[0]); !errors.Is(err, encryptionclient.ErrResumeMismatch) {
		t.Fatalf("the first token, which records no part: %v, want ErrResumeMismatch", err)
	}
	if _, err := e.resume(c, key, data, all[len(all)-1]); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(c, kr, key, data)
	e.mustHaveNoUploads()
}

// ListParts answers with numbers no upload can have are malformed
// (ErrBadResponse) before anything is sent: part 0, a negative part, a
// part beyond 10,000, a negative size, a marker that is no number or lies
// beyond 10,000. The listing, not the token, is refused: the upload is
// left for a resume against an honest server.
func TestAttackResumeListPartsOutOfRange(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	part := func(n int32, size int64) types.Part {
		return types.Part{PartNumber: aws.Int32(n), ETag: aws.String(`"x"`), Size: aws.Int64(size)}
	}
	for _, tc := range []struct {
		name string
		page func(truth []types.Part) []byte
	}{
		{"part 0", func(truth []types.Part) []byte {
			return listPage(e.bucket, "k", "id", 0, 0, false, append([]types.Part{part(0, 16)}, truth...))
		}},
		{"a negative part", func(truth []types.Part) []byte {
			return listPage(e.bucket, "k", "id", 0, 0, false, append([]types.Part{part(-3, 16)}, truth...))
		}},
		{"part 10001", func(truth []types.Part) []byte {
			return listPage(e.bucket, "k", "id", 0, 0, false, append(truth, part(encryptionclient.MaxUploadParts+1, 16)))
		}},
		{"a negative size", func(truth []types.Part) []byte {
			truth[0].Size = aws.Int64(-1)
			return listPage(e.bucket, "k", "id", 0, 0, false, truth)
		}},
		{"a marker beyond 10000", func(truth []types.Part) []byte {
			return listPage(e.bucket, "k", "id", 0, encryptionclient.MaxUploadParts+1, true, truth)
		}},
		{"a marker that is no number", func(truth []types.Part) []byte {
			b := listPage(e.bucket, "k", "id", 0, 1, true, truth)
			return bytes.Replace(b, []byte("<NextPartNumberMarker>1<"), []byte("<NextPartNumberMarker>one<"), 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "range-" + strings.ReplaceAll(tc.name, " ", "-")
			tok, id := e.interruptedUpload(e.client(kr), key, data, 3)
			liar := &s3test.Liar{}
			liar.On(isListParts, 0, s3test.EditBody(func(req *http.Request, _ []byte) []byte {
				return tc.page(e.trueParts(key, id))
			}))
			c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.resume(c, key, data, tok)
			if !errors.Is(err, encryptionclient.ErrBadResponse) {
				t.Fatalf("Upload: %v, want ErrBadResponse", err)
			}
			_, err = c.ResumeMultipartUpload(e.uploadCtx(context.Background()), &encryptionclient.ResumeMultipartUploadInput{Token: tok})
			if !errors.Is(err, encryptionclient.ErrBadResponse) {
				t.Fatalf("ResumeMultipartUpload: %v, want ErrBadResponse", err)
			}
			if n := uploadParts(liar.Requests()); n != 0 {
				t.Fatalf("%d parts sent", n)
			}
			// Left as it was: an honest listing resumes it.
			if _, err := e.resume(e.client(kr), key, data, tok); err != nil {
				t.Fatal(err)
			}
			e.mustStoreExactly(e.client(kr), kr, key, data)
		})
	}
	e.mustHaveNoUploads()
}

// What a failed resume leaves. Without OnResumeToken, a resume that fails
// once it sends parts aborts its upload, as any Upload (no upload and no
// object left); with OnResumeToken, it keeps the upload for the last token
// it delivered (an *UploadInterruptedError naming it), which resumes to
// the exact object. A resume refused before anything is sent (a changed
// source) leaves the upload as it was, with or without OnResumeToken: the
// caller still holds a token that resumes it.
func TestAttackResumeFailureAbortsOrKeeps(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	isPart := func(req *http.Request) bool { return req.Method == http.MethodPut && req.URL.Query().Has("partNumber") }
	open := func(id string) bool {
		for _, u := range e.multipartUploads() {
			if aws.ToString(u.UploadId) == id {
				return true
			}
		}
		return false
	}
	failing := func() *encryptionclient.Client {
		liar := &s3test.Liar{}
		liar.On(isPart, 0, s3test.Status(http.StatusForbidden))
		c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	tok, id := e.interruptedUpload(e.client(kr), "aborted", data, 3)
	_, err := e.resume(failing(), "aborted", data, tok)
	var left *encryptionclient.UploadInterruptedError
	if err == nil || errors.As(err, &left) {
		t.Fatalf("resume without OnResumeToken whose parts fail: %v, want a failure that aborts", err)
	}
	if open(id) || e.exists("aborted") {
		t.Fatal("the failed resume left its upload or an object")
	}

	tok, id = e.interruptedUpload(e.client(kr), "kept", data, 3)
	box := &tokenBox{}
	_, err = e.resume(failing(), "kept", data, tok, func(o *encryptionclient.UploadOptions) { o.OnResumeToken = box.save })
	if !errors.As(err, &left) || left.UploadID != id || !open(id) {
		t.Fatalf("resume with OnResumeToken whose parts fail: %v, want an *UploadInterruptedError for the open upload %s", err, id)
	}
	if _, err := e.resume(e.client(kr), "kept", data, box.token()); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(e.client(kr), kr, "kept", data)

	tok, id = e.interruptedUpload(e.client(kr), "refused", data, 3)
	changed := bytes.Clone(data)
	changed[5] ^= 1
	for _, more := range [][]func(*encryptionclient.UploadOptions){nil, {func(o *encryptionclient.UploadOptions) { o.OnResumeToken = (&tokenBox{}).save }}} {
		if _, err := e.resume(e.client(kr), "refused", changed, tok, more...); !errors.Is(err, encryptionclient.ErrResumeMismatch) || !open(id) {
			t.Fatalf("a refused resume: %v, upload open %v; want ErrResumeMismatch and the upload as it was", err, open(id))
		}
	}
	if _, err := e.resume(e.client(kr), "refused", data, tok); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(e.client(kr), kr, "refused", data)
	e.mustHaveNoUploads()
}

// refuseComplete answers CompleteMultipartUpload itself with an S3 error of
// status code, without passing it on: the server refused the completion
// and stored nothing.
type refuseComplete struct {
	next http.RoundTripper
	code int
}

func (r refuseComplete) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !req.URL.Query().Has("uploadId") {
		return r.next.RoundTrip(req)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>Refused</Code><Message>refused by the test</Message><RequestId>1</RequestId></Error>`
	return &http.Response{
		StatusCode: r.code, Status: fmt.Sprintf("%d %s", r.code, http.StatusText(r.code)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/xml"}}, ContentLength: int64(len(body)),
		Body: io.NopCloser(strings.NewReader(body)), Request: req,
	}, nil
}

// Once a token was delivered, a failed Upload keeps its multipart upload
// for a resume (UploadOptions.OnResumeToken), whatever failed: also a
// completion the server refused with a 4xx (an expired credential's 403, a
// condition's 412), which a resume may remedy (new credentials, the
// condition given anew). The error is an *UploadInterruptedError naming
// the open upload, and the last token resumes to the exact object.
func TestAttackResumableUploadKeptWhenCompletionRefused(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	for _, code := range []int{http.StatusForbidden, http.StatusPreconditionFailed, http.StatusBadRequest} {
		key := fmt.Sprintf("complete-refused-%d", code)
		liar := &s3test.Liar{}
		c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
		if err != nil {
			t.Fatal(err)
		}
		liar.Transport = refuseComplete{next: liar.Transport, code: code}
		box := &tokenBox{}
		_, err = c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)},
			e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.OnResumeToken = box.save })...)
		var left *encryptionclient.UploadInterruptedError
		if !errors.As(err, &left) {
			t.Fatalf("completion refused with %d: %v, want an *UploadInterruptedError", code, err)
		}
		found := false
		for _, u := range e.multipartUploads() {
			found = found || aws.ToString(u.UploadId) == left.UploadID
		}
		if !found || e.exists(key) {
			t.Fatalf("completion refused with %d: upload %s open %v, object stored %v; want it open and no object", code, left.UploadID, found, e.exists(key))
		}
		if _, err := e.resume(e.client(kr), key, data, box.token()); err != nil {
			t.Fatal(err)
		}
		e.mustStoreExactly(e.client(kr), kr, key, data)
	}
	e.mustHaveNoUploads()
}
