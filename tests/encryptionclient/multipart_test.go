package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testhooks"
)

// mp drives one low-level multipart upload in a test.
type mp struct {
	e   *env
	c   *encryptionclient.Client
	key string
	id  *string
	ps  int64
}

// partCtx is the context of the test's multipart calls: the limits are
// lowered on the in-process server, which accepts small parts.
func (e *env) partCtx(ctx context.Context) context.Context {
	if e.srv.Real {
		return ctx
	}
	return testhooks.WithPartLimits(ctx, 16, encryptionclient.MaxUploadParts)
}

func (e *env) createMP(c *encryptionclient.Client, key string) *mp {
	e.t.Helper()
	ps := e.testPartSize()
	ctx := encryptionclient.WithPartSize(e.partCtx(context.Background()), ps)
	out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String(key), ContentType: aws.String("text/x-parts")})
	if err != nil {
		e.t.Fatal(err)
	}
	return &mp{e: e, c: c, key: key, id: out.UploadId, ps: ps}
}

func (m *mp) part(num int32, data []byte, last bool) (*s3.UploadPartOutput, error) {
	ctx := m.e.partCtx(context.Background())
	if last {
		ctx = encryptionclient.WithLastPart(ctx)
	}
	return m.c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &m.e.bucket, Key: aws.String(m.key), UploadId: m.id, PartNumber: aws.Int32(num), Body: bytes.NewReader(data),
	})
}

func (m *mp) mustPart(num int32, data []byte, last bool) *s3.UploadPartOutput {
	m.e.t.Helper()
	out, err := m.part(num, data, last)
	if err != nil {
		m.e.t.Fatalf("part %d: %v", num, err)
	}
	return out
}

func (m *mp) complete(parts []types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	in := &s3.CompleteMultipartUploadInput{Bucket: &m.e.bucket, Key: aws.String(m.key), UploadId: m.id}
	if parts != nil {
		in.MultipartUpload = &types.CompletedMultipartUpload{Parts: parts}
	}
	return m.c.CompleteMultipartUpload(context.Background(), in)
}

func (m *mp) abort() error {
	_, err := m.c.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &m.e.bucket, Key: aws.String(m.key), UploadId: m.id})
	return err
}

// chunk returns part num (1-based) of data for part size ps.
func chunk(data []byte, ps int64, num int) []byte {
	return data[min(int64(len(data)), int64(num-1)*ps):min(int64(len(data)), int64(num)*ps)]
}

// Parts uploaded out of order and concurrently form the object PutObject
// would have written: GetObject and Download read it.
func TestMultipartRoundTrip(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["kms"])
	ps := int(e.testPartSize())
	sizes := []int{0, 1, ps - 1, ps, ps + 1, 3*ps - 1, 3 * ps, 5*ps + 7}
	if e.srv.Real {
		sizes = []int{1, ps, 2*ps + 7}
	}
	for _, size := range sizes {
		for _, listed := range []bool{false, true} {
			key := fmt.Sprintf("mp/%d/%v", size, listed)
			data := randBytes(t, size)
			m := e.createMP(c, key)
			parts := max(1, (size+ps-1)/ps)
			completed := make([]types.CompletedPart, parts)
			var wg sync.WaitGroup
			errs := make(chan error, parts)
			for num := parts - 1; num >= 1; num-- { // backwards, at once
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := m.part(int32(num), chunk(data, m.ps, num), false)
					if err != nil {
						errs <- err
						return
					}
					completed[num-1] = types.CompletedPart{PartNumber: aws.Int32(int32(num)), ETag: out.ETag}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			out := m.mustPart(int32(parts), chunk(data, m.ps, parts), true)
			completed[parts-1] = types.CompletedPart{PartNumber: aws.Int32(int32(parts)), ETag: out.ETag}
			if !listed {
				completed = nil
			}
			if _, err := m.complete(completed); err != nil {
				t.Fatalf("%s: complete: %v", key, err)
			}
			stored, meta, err := e.raw(key)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != size+envelope.TagSize || meta["x-amz-3"] == "" {
				t.Fatalf("%s: stored %d bytes, metadata %v", key, len(stored), meta)
			}
			if got, err := e.get(c, context.Background(), key); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: GetObject: %v", key, err)
			}
			if got, err := e.download(c, context.Background(), key); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: Download: %v", key, err)
			}
		}
	}
	h, err := e.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(fmt.Sprintf("mp/%d/true", sizes[1]))})
	if err != nil || aws.ToString(h.ContentType) != "text/x-parts" {
		t.Fatalf("content type not kept: %v", err)
	}
	e.mustHaveNoUploads()
}

func mustPartError(t *testing.T, err, want error, num int32, reason string) {
	t.Helper()
	var pe *encryptionclient.PartError
	if !errors.Is(err, want) || !errors.As(err, &pe) || pe.PartNumber != num || !strings.Contains(err.Error(), reason) {
		t.Fatalf("got %v, want %v for part %d mentioning %q", err, want, num, reason)
	}
}

// Every misuse has its typed error, is refused before anything is sent,
// and leaves the upload usable: it completes into a correct object.
func TestMultipartMisuse(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	ps := e.testPartSize()
	data := randBytes(t, int(3*ps+100))
	p := func(num int) []byte { return chunk(data, ps, num) }

	// Creation needs a valid part size.
	_, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("m")})
	mustErrorIs(t, err, encryptionclient.ErrInvalidInput)
	for _, size := range []int64{encryptionclient.MinPartSize - 16, encryptionclient.MinPartSize + 8, encryptionclient.MaxPartSize + 16} {
		_, err := c.CreateMultipartUpload(encryptionclient.WithPartSize(context.Background(), size), &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("m")})
		mustErrorIs(t, err, encryptionclient.ErrInvalidInput)
	}

	m := e.createMP(c, "misuse")
	// Wrong sizes.
	_, err = m.part(1, p(1)[:ps-16], false)
	mustPartError(t, err, encryptionclient.ErrPartSize, 1, "part size")
	_, err = m.part(1, append(bytes.Clone(p(1)), 0), false)
	mustPartError(t, err, encryptionclient.ErrPartSize, 1, "more than the part size")
	// The last part before the others.
	m.mustPart(1, p(1), false)
	_, err = m.part(4, p(4), true)
	mustPartError(t, err, encryptionclient.ErrPartOrder, 4, "part 2 has not been uploaded yet")
	m.mustPart(3, p(3), false)
	m.mustPart(2, p(2), false)
	// A retry with the same bytes is fine; other bytes are refused.
	m.mustPart(2, p(2), false)
	other := bytes.Clone(p(2))
	other[7] ^= 1
	_, err = m.part(2, other, false)
	mustPartError(t, err, encryptionclient.ErrPartConflict, 2, "other bytes")
	_, err = m.part(4, append(bytes.Clone(p(1)), 0), true)
	mustPartError(t, err, encryptionclient.ErrPartSize, 4, "more than the part size")
	// Completing before the last part.
	_, err = m.complete(nil)
	mustPartError(t, err, encryptionclient.ErrMissingPart, 0, "no last part")
	m.mustPart(4, p(4), true)
	m.mustPart(4, p(4), true) // retry of the last part
	_, err = m.part(4, p(4)[1:], true)
	mustPartError(t, err, encryptionclient.ErrPartConflict, 4, "other bytes")
	// Parts after the last.
	_, err = m.part(5, p(1), false)
	mustPartError(t, err, encryptionclient.ErrPartOrder, 5, "no part may follow")
	_, err = m.part(5, p(4), true)
	mustPartError(t, err, encryptionclient.ErrPartOrder, 5, "no part may follow")
	_, err = m.part(3, p(4), true)
	mustPartError(t, err, encryptionclient.ErrPartOrder, 3, "already uploaded as the last part")
	_, err = m.part(4, p(4), false)
	mustPartError(t, err, encryptionclient.ErrPartOrder, 4, "WithLastPart")
	// Checksums of the plaintext.
	_, err = c.UploadPart(context.Background(), &s3.UploadPartInput{
		Bucket: &e.bucket, Key: aws.String("misuse"), UploadId: m.id, PartNumber: aws.Int32(1), Body: bytes.NewReader(p(1)), ChecksumCRC32: aws.String("AAAAAA=="),
	})
	mustErrorIs(t, err, encryptionclient.ErrInvalidInput)
	// A parts list with a part missing, or one too many.
	_, err = m.complete([]types.CompletedPart{{PartNumber: aws.Int32(1)}, {PartNumber: aws.Int32(3)}, {PartNumber: aws.Int32(4)}})
	mustPartError(t, err, encryptionclient.ErrMissingPart, 2, "left out")
	_, err = m.complete([]types.CompletedPart{{PartNumber: aws.Int32(1)}, {PartNumber: aws.Int32(2)}, {PartNumber: aws.Int32(3)}, {PartNumber: aws.Int32(4)}, {PartNumber: aws.Int32(5)}})
	mustPartError(t, err, encryptionclient.ErrPartOrder, 5, "beyond the last part")
	// After all that, the object is right.
	if _, err := m.complete(nil); err != nil {
		t.Fatal(err)
	}
	if got, err := e.download(c, context.Background(), "misuse"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}
	// Completing twice, and parts after completion.
	_, err = m.complete(nil)
	mustPartError(t, err, encryptionclient.ErrUnknownUpload, 0, "")
	_, err = m.part(1, p(1), false)
	mustPartError(t, err, encryptionclient.ErrUnknownUpload, 1, "")

	// A part whose upload failed is missing from a completion until it is
	// sent again.
	flaky := &flakyS3{S3API: e.plain, failPart: 2}
	fc, err := encryptionclient.New(flaky, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	gapData := data[:2*ps+1]
	fm := e.createMP(fc, "gap")
	fm.mustPart(1, p(1), false)
	_, err = fm.part(2, p(2), false)
	mustErrorIs(t, err, errFlaky)
	fm.mustPart(3, chunk(gapData, ps, 3), true) // part 2 was encrypted: its hash is known
	_, err = fm.complete(nil)
	mustPartError(t, err, encryptionclient.ErrMissingPart, 2, "not uploaded")
	flaky.failPart = 0
	fm.mustPart(2, p(2), false)
	if _, err := fm.complete(nil); err != nil {
		t.Fatal(err)
	}
	if got, err := e.download(c, context.Background(), "gap"); err != nil || !bytes.Equal(got, gapData) {
		t.Fatalf("Download: %v", err)
	}

	// Parts 1 and 3 only: the last part must wait for part 2.
	m = e.createMP(c, "hole")
	m.mustPart(1, p(1), false)
	m.mustPart(3, p(3), false)
	_, err = m.part(4, p(4), true)
	mustPartError(t, err, encryptionclient.ErrPartOrder, 4, "part 2")
	_, err = m.complete(nil)
	mustErrorIs(t, err, encryptionclient.ErrMissingPart)
	// An upload the client does not hold: created by another client, or
	// aborted.
	if err := m.abort(); err != nil {
		t.Fatal(err)
	}
	_, err = m.part(2, p(2), false)
	mustPartError(t, err, encryptionclient.ErrUnknownUpload, 2, "")
	_, err = m.complete(nil)
	mustErrorIs(t, err, encryptionclient.ErrUnknownUpload)
	plainUp, err := e.plain.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("foreign")})
	if err != nil {
		t.Fatal(err)
	}
	foreign := &mp{e: e, c: c, key: "foreign", id: plainUp.UploadId, ps: ps}
	_, err = foreign.part(1, p(1), false)
	mustErrorIs(t, err, encryptionclient.ErrUnknownUpload)
	other2 := e.client(e.krs["aes"])
	m = e.createMP(c, "other-client")
	_, err = (&mp{e: e, c: other2, key: "other-client", id: m.id}).part(1, p(1), false)
	mustErrorIs(t, err, encryptionclient.ErrUnknownUpload)
	// Abort works for any upload id, held or not.
	if err := foreign.abort(); err != nil {
		t.Fatal(err)
	}
	if err := m.abort(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"hole", "foreign", "other-client"} {
		if e.exists(key) {
			t.Errorf("%s stored", key)
		}
	}
	e.mustHaveNoUploads()
}

func TestMultipartInstructionFile(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	ps := e.testPartSize()
	data := randBytes(t, int(ps+5))
	m := e.createMP(c, "mp-instr")
	m.mustPart(1, chunk(data, ps, 1), false)
	if e.exists("mp-instr.instruction") {
		t.Fatal("instruction file written before completion")
	}
	m.mustPart(2, chunk(data, ps, 2), true)
	if _, err := m.complete(nil); err != nil {
		t.Fatal(err)
	}
	if !e.exists("mp-instr.instruction") {
		t.Fatal("no instruction file")
	}
	if got, err := e.get(c, context.Background(), "mp-instr"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetObject: %v", err)
	}
}

// Many parts from many goroutines, some sent twice at once (run with
// -race).
func TestMultipartConcurrentParts(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	ps := e.testPartSize()
	parts := 24
	if e.srv.Real {
		parts = 4
	}
	data := randBytes(t, parts*int(ps)-3)
	m := e.createMP(c, "many")
	var wg sync.WaitGroup
	errs := make(chan error, 2*parts)
	for num := 1; num < parts; num++ {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := m.part(int32(num), chunk(data, ps, num), false); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	m.mustPart(int32(parts), chunk(data, ps, parts), true)
	if _, err := m.complete(nil); err != nil {
		t.Fatal(err)
	}
	if got, err := e.download(c, context.Background(), "many"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}
}
