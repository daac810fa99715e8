package encryptionclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// Writes whose success answer carries no result: S3 answers
// CompleteMultipartUpload, CopyObject and UploadPartCopy with a 200 at
// once and sends the result (or an <Error>) later, after whitespace that
// keeps the connection open. The SDK takes a 200 whose body ends before
// any element (empty, or whitespace only: a close-delimited answer cut by
// a proxy during the wait) as a success with an empty output: no ETag, no
// result. The write may not have happened at all, so the library must not
// report it as done, nor act on it (delete the old instruction file of a
// re-encrypted object, leave the multipart upload open).

// emptyOKTransport answers the requests fake selects with a 200 whose body
// is whitespace only, without sending them on: the write never reaches the
// server. Every other request goes to next.
type emptyOKTransport struct {
	next  http.RoundTripper
	fake  func(*http.Request) bool
	faked atomic.Int32
}

func (t *emptyOKTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.fake(req) {
		return t.next.RoundTrip(req)
	}
	t.faked.Add(1)
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	body := " \n \n"
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"X-Amz-Request-Id": {"forged"}, "Content-Type": {"application/xml"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// isCompletion selects CompleteMultipartUpload: POST ?uploadId=…
func isCompletion(req *http.Request) bool {
	return req.Method == http.MethodPost && req.URL.Query().Has("uploadId")
}

// isCopyOf selects a CopyObject (not UploadPartCopy) whose destination is key.
func isCopyOf(key string) func(*http.Request) bool {
	return func(req *http.Request) bool {
		return req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") != "" &&
			!req.URL.Query().Has("uploadId") && strings.HasSuffix(req.URL.Path, "/"+key)
	}
}

// emptyOKClient is an encryption client whose S3 requests go through an
// emptyOKTransport.
func emptyOKClient(t *testing.T, e *env, fake func(*http.Request) bool, kr materials.Keyring, optFns ...func(*encryptionclient.Options)) (*encryptionclient.Client, *emptyOKTransport) {
	t.Helper()
	tr := &emptyOKTransport{next: http.DefaultTransport, fake: fake}
	s := e.srv.Client(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: tr} })
	c, err := encryptionclient.New(s, kr, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return c, tr
}

// An Upload whose CompleteMultipartUpload is answered 200 with no result
// (the completion never happened) must not report the object stored, and
// must not leave the multipart upload open without an error naming it.
func TestAttackUploadEmptyCompletionAnswer(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	c, tr := emptyOKClient(t, e, isCompletion, kr)
	data := randBytes(t, 3*int(e.testPartSize())+100)
	out, err := c.Upload(e.uploadCtx(context.Background()), uploadInput(e.bucket, "emptyok-upload", data, "seekable"), e.uploadOpts()...)
	if tr.faked.Load() == 0 {
		t.Fatal("the completion was not faked")
	}
	stored := e.exists("emptyok-upload")
	left := len(e.multipartUploads())
	for _, u := range e.multipartUploads() {
		e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: u.Key, UploadId: u.UploadId})
	}
	if err == nil {
		t.Fatalf("Upload reported success (ETag %q, upload %s) for a completion answered with no result: object stored %v, %d multipart uploads left open",
			aws.ToString(out.ETag), out.UploadID, stored, left)
	}
	t.Logf("error: %v (stored %v, uploads left %d)", err, stored, left)
}

// The low-level CompleteMultipartUpload, answered the same way, must not
// report success either.
func TestAttackCompleteMultipartUploadEmptyAnswer(t *testing.T) {
	e := newEnv(t)
	c, _ := emptyOKClient(t, e, isCompletion, e.krs["aes"])
	m := e.createMP(c, "emptyok-lowlevel")
	defer m.abort()
	out := m.mustPart(1, randBytes(t, 1000), true)
	_, err := m.complete([]types.CompletedPart{{PartNumber: aws.Int32(1), ETag: out.ETag}})
	if err == nil {
		t.Fatalf("CompleteMultipartUpload reported success for an answer with no result; object stored: %v", e.exists(m.key))
	}
}

// A ReEncrypt whose source keeps its envelope in an instruction file, and
// whose CompleteMultipartUpload is answered 200 with no result, must leave
// the source readable: the completion never happened, so the source is
// unchanged and still needs its instruction file. The library took the
// missing ETag as "any object is the one written" and deleted the
// instruction file: the object can no longer be decrypted by anyone.
func TestAttackReEncryptEmptyCompletionKeepsInstructionFile(t *testing.T) {
	e := newEnv(t)
	kr := mustAES(t, nil)
	writer := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	partSize, threshold, size := e.mpSizes()
	key := "emptyok-reencrypt"
	data := randBytes(t, size)
	if err := e.put(writer, context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	if !e.exists(key + ".instruction") {
		t.Fatal("no instruction file written")
	}
	c, tr := emptyOKClient(t, e, isCompletion, kr)
	out, err := c.ReEncrypt(e.smallParts(context.Background()), &encryptionclient.ReEncryptInput{
		Bucket: &e.bucket, Key: &key, Keyring: mustAES(t, nil), MultipartThreshold: threshold, PartSize: partSize,
	})
	if tr.faked.Load() == 0 {
		t.Fatalf("the completion was not faked (ReEncrypt: %+v, %v)", out, err)
	}
	for _, u := range e.multipartUploads() {
		e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: u.Key, UploadId: u.UploadId})
	}
	got, rerr := e.get(writer, context.Background(), key)
	if rerr != nil || !bytes.Equal(got, data) {
		t.Errorf("the source no longer reads after a ReEncrypt whose completion never happened (instruction file left: %v): %v",
			e.exists(key+".instruction"), rerr)
	}
	if err == nil {
		t.Errorf("ReEncrypt reported success (ETag %q) for a completion answered with no result", aws.ToString(out.ETag))
	}
}

// The same with the in-memory path: a PutObject answered 200 without an
// ETag (never sent on) must not let the old instruction file go.
func TestAttackReEncryptEmptyPutAnswerKeepsInstructionFile(t *testing.T) {
	e := newEnv(t)
	kr := mustAES(t, nil)
	writer := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	key := "emptyok-reencrypt-small"
	data := randBytes(t, 5000)
	if err := e.put(writer, context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	isPut := func(req *http.Request) bool {
		return req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") == "" && strings.HasSuffix(req.URL.Path, "/"+key)
	}
	c, tr := emptyOKClient(t, e, isPut, kr)
	out, err := c.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: mustAES(t, nil)})
	if tr.faked.Load() == 0 {
		t.Fatalf("the PutObject was not faked (ReEncrypt: %+v, %v)", out, err)
	}
	got, rerr := e.get(writer, context.Background(), key)
	if rerr != nil || !bytes.Equal(got, data) {
		t.Errorf("the source no longer reads after a ReEncrypt whose PutObject never happened (instruction file left: %v): %v",
			e.exists(key+".instruction"), rerr)
	}
	if err == nil {
		t.Errorf("ReEncrypt reported success (ETag %q) for a PutObject answered without an ETag", aws.ToString(out.ETag))
	}
}

// A Rewrap whose in-place CopyObject is answered 200 with no
// CopyObjectResult (the copy never happened) must not report the object
// re-wrapped: a rotation that believes it would let the old key be
// retired while objects still need it.
func TestAttackRewrapEmptyCopyAnswer(t *testing.T) {
	e := newEnv(t)
	oldKR := mustAES(t, nil)
	key := "emptyok-rewrap"
	data := randBytes(t, 5000)
	if err := e.put(e.client(oldKR), context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	newKR := mustAES(t, nil)
	c, tr := emptyOKClient(t, e, isCopyOf(key), oldKR)
	out, err := c.Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: &key, Keyring: newKR})
	if tr.faked.Load() == 0 {
		t.Fatalf("the copy was not faked (Rewrap: %+v, %v)", out, err)
	}
	_, newErr := e.get(e.client(newKR), context.Background(), key)
	if err == nil {
		t.Fatalf("Rewrap reported success (ETag %q) for a CopyObject answered with no result; the object reads with the new key: %v", aws.ToString(out.ETag), newErr == nil)
	}
}
