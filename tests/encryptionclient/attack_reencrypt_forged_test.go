package encryptionclient_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// ReEncrypt deletes the source's old instruction file once the object at
// the key has the ETag the write's answer reported. That ETag is the
// answer's, not proof: a network that answers the PutObject itself (it
// never reached S3) with the source's own ETag, which it saw in the GET's
// answer, passes the check, and the source, unchanged, loses its
// instruction file. What proves the write is the new envelope (its IV is
// unique) on the object.
func TestAttackReEncryptFakedPutWithSourceETagKeepsInstructionFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := mustAES(t, nil)
	writer := e.client(kr, instrOpt)
	key := "fake-reencrypt-etag"
	data := randBytes(t, 5000)
	if err := e.put(writer, ctx, key, data); err != nil {
		t.Fatal(err)
	}
	h, err := e.plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &answeringTransport{next: http.DefaultTransport, answer: func(req *http.Request) *http.Response {
		if req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") == "" && strings.HasSuffix(req.URL.Path, "/"+key) {
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Etag": {aws.ToString(h.ETag)}}}
		}
		return nil
	}}
	c, err := encryptionclient.New(e.srv.Client(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: tr} }), kr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: mustAES(t, nil)})
	if tr.answered.Load() != 1 {
		t.Fatalf("the PutObject was not answered by the network (%v)", err)
	}
	if got, rerr := e.get(writer, ctx, key); rerr != nil || !bytes.Equal(got, data) {
		t.Fatalf("the unchanged source no longer reads (instruction file left: %v): %v (ReEncrypt: %v)", e.exists(key+".instruction"), rerr, err)
	}
}
