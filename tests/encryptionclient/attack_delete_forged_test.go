package encryptionclient_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// A network that cannot sign requests (a plain-HTTP path, a proxy) can
// still drop a request and answer it itself. A DeleteObject answered 204
// that never reached S3, or a DeleteObjects answer naming a key Deleted
// that S3 never deleted, makes the client delete the object's instruction
// file, a request the network lets through: the object stays, without
// the only copy of its wrapped data key, and nobody can read it again.
// The instruction file may go only once the object is gone.

// answeringTransport answers the requests answer returns a response for
// itself, without sending them on; the others go to next.
type answeringTransport struct {
	next     http.RoundTripper
	answer   func(*http.Request) *http.Response
	answered atomic.Int32
}

func (t *answeringTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp := t.answer(req)
	if resp == nil {
		return t.next.RoundTrip(req)
	}
	t.answered.Add(1)
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	resp.Request = req
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	resp.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	resp.Header.Set("X-Amz-Request-Id", "review-c")
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	return resp, nil
}

func answeringClient(t *testing.T, e *env, answer func(*http.Request) *http.Response, optFns ...func(*encryptionclient.Options)) (*encryptionclient.Client, *answeringTransport) {
	t.Helper()
	tr := &answeringTransport{next: http.DefaultTransport, answer: answer}
	c, err := encryptionclient.New(e.srv.Client(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: tr} }), e.krs["aes"], optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return c, tr
}

func instrOpt(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }

func TestAttackDeleteObjectFakedAnswerKeepsInstructionFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := "fake-del"
	data := []byte("still stored, and must stay readable")
	writer := e.client(e.krs["aes"], instrOpt)
	if err := e.put(writer, ctx, key, data); err != nil {
		t.Fatal(err)
	}
	c, tr := answeringClient(t, e, func(req *http.Request) *http.Response {
		if req.Method == http.MethodDelete && strings.HasSuffix(req.URL.Path, "/"+key) {
			return &http.Response{StatusCode: http.StatusNoContent}
		}
		return nil
	}, instrOpt)
	_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	if tr.answered.Load() != 1 {
		t.Fatalf("the delete was not answered by the network (%v)", err)
	}
	if !e.exists(key) {
		t.Fatal("the object is gone: the test did not fake the delete")
	}
	if got, rerr := e.get(writer, ctx, key); rerr != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object S3 still stores no longer reads (instruction file left: %v): %v (DeleteObject: %v)", e.exists(key+".instruction"), rerr, err)
	}
}

func TestAttackDeleteObjectsFakedAnswerKeepsInstructionFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := "fake-dels"
	data := []byte("still stored, and must stay readable")
	writer := e.client(e.krs["aes"], instrOpt)
	if err := e.put(writer, ctx, key, data); err != nil {
		t.Fatal(err)
	}
	var faked atomic.Bool
	c, _ := answeringClient(t, e, func(req *http.Request) *http.Response {
		// The first DeleteObjects (the objects'): answered by the network.
		if req.Method == http.MethodPost && req.URL.Query().Has("delete") && faked.CompareAndSwap(false, true) {
			body := `<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>` + key + `</Key></Deleted></DeleteResult>`
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
				Header: http.Header{"Content-Type": {"application/xml"}}}
		}
		return nil
	}, instrOpt)
	_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String(key)}}}})
	if !faked.Load() {
		t.Fatalf("the DeleteObjects was not answered by the network (%v)", err)
	}
	if !e.exists(key) {
		t.Fatal("the object is gone: the test did not fake the delete")
	}
	if got, rerr := e.get(writer, ctx, key); rerr != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object S3 still stores no longer reads (instruction file left: %v): %v (DeleteObjects: %v)", e.exists(key+".instruction"), rerr, err)
	}
}
