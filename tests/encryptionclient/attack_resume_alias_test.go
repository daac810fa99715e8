package encryptionclient_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// A token is the caller's buffer: once ResumeMultipartUpload returns, the
// caller may reuse it (read the next token file into it). The Client keeps
// no reference to it: the tokens it seals later for the upload it took up
// still open elsewhere, and still take part in merges, after the buffer
// was overwritten.
func TestAttackResumeTokenBufferReused(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	coord := e.client(kr)
	d, tok := e.newDistributed(coord, "buffer-reused")

	w := e.client(kr)
	buf := bytes.Clone(tok)
	if _, err := w.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: buf}); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x' // the caller reuses its buffer
	}
	for n := int32(1); n < resumeParts; n++ {
		if err := d.upload(w, n, d.part(n)); err != nil {
			t.Fatal(err)
		}
	}
	back, err := w.ResumeToken(e.bucket, d.key, d.id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coord.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: back}); err != nil {
		t.Fatalf("the worker's token after its buffer was reused: %v", err)
	}
	if err := d.upload(coord, resumeParts, d.part(resumeParts)); err != nil {
		t.Fatal(err)
	}
	if _, err := coord.CompleteMultipartUpload(d.ctx, &s3.CompleteMultipartUploadInput{Bucket: &e.bucket, Key: &d.key, UploadId: &d.id}); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(coord, kr, d.key, d.data)
	e.mustHaveNoUploads()
}
