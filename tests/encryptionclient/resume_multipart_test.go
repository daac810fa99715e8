package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// distributed is one encrypted multipart upload created by a coordinator
// whose parts workers upload.
type distributed struct {
	e        *env
	data     []byte
	key, id  string
	partSize int64
	ctx      context.Context
}

func (d *distributed) part(n int32) []byte {
	off := int64(n-1) * d.partSize
	return d.data[off:min(off+d.partSize, int64(len(d.data)))]
}

func (d *distributed) upload(c *encryptionclient.Client, n int32, body []byte) error {
	ctx := d.ctx
	if n == resumeParts {
		ctx = encryptionclient.WithLastPart(ctx)
	}
	_, err := c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &d.e.bucket, Key: &d.key, UploadId: &d.id, PartNumber: aws.Int32(n),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	})
	return err
}

// newDistributed creates an encrypted multipart upload of key with coord,
// the coordinator, at the test part size, and returns it with the
// coordinator's token.
func (e *env) newDistributed(coord *encryptionclient.Client, key string) (*distributed, []byte) {
	e.t.Helper()
	d := &distributed{e: e, data: e.resumeData(), key: key, partSize: e.testPartSize()}
	d.ctx = encryptionclient.WithPartSize(e.uploadCtx(context.Background()), d.partSize)
	created, err := coord.CreateMultipartUpload(d.ctx, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: &d.key})
	if err != nil {
		e.t.Fatal(err)
	}
	d.id = aws.ToString(created.UploadId)
	tok, err := coord.ResumeToken(e.bucket, d.key, d.id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d, tok
}

// worker takes the upload up from tok in a Client of its own (another
// process: it shares nothing with the coordinator but the keyring and the
// token), uploads parts nums and hands back its token.
func (d *distributed) worker(tok []byte, nums ...int32) []byte {
	d.e.t.Helper()
	w := d.e.client(d.e.krs["kms"])
	out, err := w.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: tok})
	if err != nil {
		d.e.t.Fatal(err)
	}
	if out.UploadID != d.id || out.PartSize != d.partSize {
		d.e.t.Fatalf("took up upload %s with part size %d", out.UploadID, out.PartSize)
	}
	for _, n := range nums {
		if err := d.upload(w, n, d.part(n)); err != nil {
			d.e.t.Fatal(err)
		}
	}
	back, err := w.ResumeToken(d.e.bucket, d.key, d.id)
	if err != nil {
		d.e.t.Fatal(err)
	}
	return back
}

// Workers, each in a Client of its own, take an upload up from the
// coordinator's token, upload some parts and hand their tokens back; the
// coordinator merges them, uploads the last part (the tag over every
// part's sum, including the workers') and completes: the object is the
// exact encryption of the whole plaintext. A part re-sent with other
// bytes where a token records it is refused before anything is sent, and
// two tokens that disagree on a part do not merge.
func TestMultipartResumeDistributedWorkers(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	coord := e.client(kr)
	d, tok := e.newDistributed(coord, "distributed")
	odd := d.worker(tok, 1, 3, 5, 7)
	even := d.worker(tok, 2, 4, 6)

	// A worker that re-sends part 3 with other bytes, from a token that
	// records part 3 (the odd worker's), is refused before it sends.
	w := e.client(kr)
	if _, err := w.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: odd}); err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(d.part(3))
	changed[0] ^= 1
	if err := d.upload(w, 3, changed); !errors.Is(err, encryptionclient.ErrPartConflict) {
		t.Fatalf("part 3 re-sent with other bytes: %v", err)
	}

	for _, back := range [][]byte{odd, even} {
		if _, err := coord.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: back}); err != nil {
			t.Fatal(err)
		}
	}
	again, err := coord.ResumeToken(e.bucket, d.key, d.id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.client(kr).ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: again})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(out.Uploaded, want) || len(out.Pending) != 0 || len(out.Unrecorded) != 0 {
		t.Fatalf("the merged token: uploaded %v, pending %v, unrecorded %v; want %v", out.Uploaded, out.Pending, out.Unrecorded, want)
	}
	if err := d.upload(coord, resumeParts, d.part(resumeParts)); err != nil {
		t.Fatal(err)
	}
	if _, err := coord.CompleteMultipartUpload(d.ctx, &s3.CompleteMultipartUploadInput{Bucket: &e.bucket, Key: &d.key, UploadId: &d.id}); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(coord, kr, d.key, d.data)
	if _, err := coord.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: again}); !errors.Is(err, encryptionclient.ErrResumeStale) {
		t.Fatalf("the token of a completed upload: %v", err)
	}
}

// Two workers given the same part number with different plaintexts (a
// misuse the rules forbid: S3 now holds one ciphertext, the network saw
// both) cannot both bring their part to the coordinator: the second token
// fails to merge with ErrPartConflict and nothing of it is merged.
func TestMultipartResumeConflictingWorkers(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	coord := e.client(kr)
	d, tok := e.newDistributed(coord, "conflict")
	first := d.worker(tok, 1, 2)
	other := &distributed{e: e, data: bytes.Clone(d.data), key: d.key, id: d.id, partSize: d.partSize, ctx: d.ctx}
	other.data[5] ^= 1
	second := other.worker(tok, 1)
	if _, err := coord.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: first}); err != nil {
		t.Fatal(err)
	}
	_, err := coord.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: second})
	var re *encryptionclient.ResumeError
	if !errors.As(err, &re) || !errors.Is(err, encryptionclient.ErrPartConflict) {
		t.Fatalf("conflicting tokens: %v, want a *ResumeError for ErrPartConflict", err)
	}
	if _, err := coord.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: &d.key, UploadId: &d.id}); err != nil {
		t.Fatal(err)
	}
	if _, err := coord.ResumeToken(e.bucket, d.key, d.id); !errors.Is(err, encryptionclient.ErrUnknownUpload) {
		t.Fatalf("ResumeToken of an aborted upload: %v", err)
	}
}
