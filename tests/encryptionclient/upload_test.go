package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testhooks"
)

// testPartSize is the part size of the transfer tests: small on the
// in-process server, S3's 5 MiB minimum on real ones. It is a multiple of
// 16 that is not a power of two, so parts straddle the engine's chunks.
func (e *env) testPartSize() int64 {
	if e.srv.Real {
		return encryptionclient.MinPartSize
	}
	return 32<<10 + 48
}

// uploadCtx is the context of the test's Upload calls: the part-size
// limit is lowered on the in-process server, which accepts small parts,
// and the part-count limit is lifted so that the part size does not grow
// for bodies of unknown length (TestUploadPartSizeGrows tests the growth).
func (e *env) uploadCtx(ctx context.Context) context.Context {
	if e.srv.Real {
		return testhooks.WithPartLimits(ctx, encryptionclient.MinPartSize, 1<<30)
	}
	return testhooks.WithPartLimits(ctx, 16, 1<<30)
}

// uploadOpts sets the test part size and more; use it with uploadCtx.
func (e *env) uploadOpts(more ...func(*encryptionclient.UploadOptions)) []func(*encryptionclient.UploadOptions) {
	fns := []func(*encryptionclient.UploadOptions){
		func(o *encryptionclient.UploadOptions) { o.PartSize = e.testPartSize() },
	}
	return append(fns, more...)
}

// multipartUploads lists the bucket's unfinished multipart uploads.
func (e *env) multipartUploads() []types.MultipartUpload {
	e.t.Helper()
	out, err := e.plain.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Uploads
}

func (e *env) mustHaveNoUploads() {
	e.t.Helper()
	if ups := e.multipartUploads(); len(ups) != 0 {
		e.t.Fatalf("%d multipart uploads left behind, first %s", len(ups), aws.ToString(ups[0].Key))
	}
}

// download reads key with Download into memory.
func (e *env) download(c *encryptionclient.Client, ctx context.Context, key string, optFns ...func(*encryptionclient.DownloadOptions)) ([]byte, error) {
	var w bufferAt
	n, err := c.Download(ctx, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)}, optFns...)
	if err != nil {
		return nil, err
	}
	b := w.Bytes()
	if int64(len(b)) != n {
		return nil, fmt.Errorf("Download returned %d, wrote %d bytes", n, len(b))
	}
	return b, nil
}

// bufferAt is an io.WriterAt in memory, safe for concurrent writes.
type bufferAt struct {
	mu  sync.Mutex
	buf []byte
}

func (b *bufferAt) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if end := int(off) + len(p); end > len(b.buf) {
		b.buf = append(b.buf, make([]byte, end-len(b.buf))...)
	}
	copy(b.buf[off:], p)
	return len(p), nil
}

func (b *bufferAt) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf
}

// bodyKinds are the ways a caller can hand Upload its plaintext.
var bodyKinds = []string{"seekable", "known-length", "unknown-length"}

func uploadInput(bucket, key string, data []byte, kind string) *s3.PutObjectInput {
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	switch kind {
	case "seekable":
		in.Body = bytes.NewReader(data)
	case "known-length":
		in.Body = io.MultiReader(bytes.NewReader(data))
		in.ContentLength = aws.Int64(int64(len(data)))
	case "unknown-length":
		in.Body = io.MultiReader(bytes.NewReader(data))
	}
	return in
}

// progressLog records progress calls and checks that they never overlap
// and never go back.
type progressLog struct {
	t       *testing.T
	busy    atomic.Bool
	mu      sync.Mutex
	last    int64
	calls   int
	problem string
}

func (p *progressLog) fn(done int64) {
	if !p.busy.CompareAndSwap(false, true) {
		p.fail("overlapping progress calls")
	}
	defer p.busy.Store(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	if done < p.last {
		p.problem = fmt.Sprintf("progress went back from %d to %d", p.last, done)
	}
	p.last = done
	p.calls++
}

func (p *progressLog) fail(s string) {
	p.mu.Lock()
	p.problem = s
	p.mu.Unlock()
}

func (p *progressLog) check(want int64) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.problem != "" {
		p.t.Fatal(p.problem)
	}
	if p.last != want {
		p.t.Fatalf("progress ended at %d, want %d", p.last, want)
	}
}

func TestUploadSizesAndBodies(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	ps := int(e.testPartSize())
	sizes := []int{0, 1, ps - 1, ps, ps + 1, 3 * ps, 5*ps + 7}
	thresholds := []int64{0, 1} // default (the part size), and multipart for anything
	if e.srv.Real {
		sizes = []int{0, 1, ps - 1, ps, ps + 1, 2*ps + 7}
		thresholds = []int64{0}
	}
	for _, size := range sizes {
		data := randBytes(t, size)
		for _, kind := range bodyKinds {
			for _, threshold := range thresholds {
				key := fmt.Sprintf("up/%d/%s/%d", size, kind, threshold)
				prog := &progressLog{t: t}
				out, err := c.Upload(e.uploadCtx(context.Background()), uploadInput(e.bucket, key, data, kind), e.uploadOpts(func(o *encryptionclient.UploadOptions) {
					o.Threshold = threshold
					o.Concurrency = 3
					o.Progress = prog.fn
				})...)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				prog.check(int64(size))
				wantParts, th := 0, threshold
				if th == 0 {
					th = int64(ps)
				}
				if int64(size) >= th {
					wantParts = (size + ps - 1) / ps
				}
				if out.Parts != wantParts || out.Size != int64(size) || (wantParts > 0) != (out.UploadID != "") {
					t.Fatalf("%s: output %+v, want %d parts", key, out, wantParts)
				}
				stored, _, err := e.raw(key)
				if err != nil {
					t.Fatal(err)
				}
				if len(stored) != size+envelope.TagSize {
					t.Fatalf("%s: stored %d bytes", key, len(stored))
				}
				if got, err := e.get(c, context.Background(), key); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: GetObject: %v", key, err)
				}
				// Ranges that do not follow the upload's parts.
				got, err := e.download(c, context.Background(), key, func(o *encryptionclient.DownloadOptions) {
					o.PartSize = int64(ps/3) &^ 15
					o.Concurrency = 3
				})
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: Download: %v", key, err)
				}
			}
		}
	}
	e.mustHaveNoUploads()
}

// A big object decrypts with GetObject's delayed authentication, with
// Download, and gives the plaintext the stream had.
func TestUploadManyPartsDelayedAuth(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["kms"], func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true })
	ps := int(e.testPartSize())
	n := 40
	if e.srv.Real {
		n = 4
	}
	data := randBytes(t, n*ps+ps/2+3)
	ctx := encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"job": "big"})
	out, err := c.Upload(e.uploadCtx(ctx), uploadInput(e.bucket, "big", data, "unknown-length"), e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.Concurrency = 8 })...)
	if err != nil {
		t.Fatal(err)
	}
	if out.Parts != n+1 {
		t.Fatalf("%d parts, want %d", out.Parts, n+1)
	}
	if got, err := e.get(c, ctx, "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetObject: %v", err)
	}
	if got, err := e.download(c, ctx, "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}
	_, err = e.download(c, context.Background(), "big")
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
}

func TestUploadKeepsFields(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	data := randBytes(t, int(2*e.testPartSize()+5))
	in := uploadInput(e.bucket, "fields", data, "seekable")
	in.ContentType = aws.String("application/x-test")
	in.CacheControl = aws.String("no-cache")
	in.ContentDisposition = aws.String("attachment")
	in.Metadata = map[string]string{"owner": "alice"}
	if e.srv.Real {
		in.Tagging = aws.String("team=blue")
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	if _, err := c.Upload(e.uploadCtx(context.Background()), in, e.uploadOpts()...); err != nil {
		t.Fatal(err)
	}
	h, err := e.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("fields")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(h.ContentType) != "application/x-test" || h.Metadata["owner"] != "alice" || h.Metadata["x-amz-3"] == "" {
		t.Fatalf("stored fields: type %q metadata %v", aws.ToString(h.ContentType), h.Metadata)
	}
	if e.srv.Real {
		if aws.ToString(h.CacheControl) != "no-cache" || aws.ToString(h.ContentDisposition) != "attachment" {
			t.Fatalf("stored cache control %q, disposition %q", aws.ToString(h.CacheControl), aws.ToString(h.ContentDisposition))
		}
		tags, err := e.plain.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &e.bucket, Key: aws.String("fields")})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Key) != "team" {
			t.Fatalf("tags %v", tags.TagSet)
		}
	}
	if got, err := e.download(c, context.Background(), "fields"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}

	// Input that cannot be kept is refused before anything is sent.
	bad := []func(*s3.PutObjectInput){
		func(in *s3.PutObjectInput) { in.ChecksumCRC32 = aws.String("AAAAAA==") },
		func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String("x") },
		func(in *s3.PutObjectInput) { in.Metadata = map[string]string{"x-amz-key-v2": "x"} },
		func(in *s3.PutObjectInput) { in.WriteOffsetBytes = aws.Int64(0) },
		func(in *s3.PutObjectInput) { in.Key = nil },
	}
	for i, fn := range bad {
		in := uploadInput(e.bucket, "refused", data, "seekable")
		fn(in)
		_, err := c.Upload(e.uploadCtx(context.Background()), in, e.uploadOpts()...)
		if !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	badOpts := []func(*encryptionclient.UploadOptions){
		func(o *encryptionclient.UploadOptions) { o.PartSize = encryptionclient.MinPartSize + 1 },
		func(o *encryptionclient.UploadOptions) { o.PartSize = encryptionclient.MinPartSize - 16 },
		func(o *encryptionclient.UploadOptions) { o.PartSize = encryptionclient.MaxPartSize + 16 },
		func(o *encryptionclient.UploadOptions) { o.Concurrency = -1 },
		func(o *encryptionclient.UploadOptions) { o.Threshold = -1 },
	}
	for i, fn := range badOpts {
		_, err := c.Upload(context.Background(), uploadInput(e.bucket, "refused", data, "seekable"), fn)
		if !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("options case %d: %v", i, err)
		}
	}
	if e.exists("refused") {
		t.Fatal("a refused upload stored an object")
	}
	e.mustHaveNoUploads()
}

func TestUploadInstructionFile(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["rsa"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	data := randBytes(t, int(3*e.testPartSize()-1))
	if _, err := c.Upload(e.uploadCtx(context.Background()), uploadInput(e.bucket, "instr", data, "known-length"), e.uploadOpts()...); err != nil {
		t.Fatal(err)
	}
	if !e.exists("instr.instruction") {
		t.Fatal("no instruction file")
	}
	if _, meta, _ := e.raw("instr"); meta["x-amz-3"] != "" {
		t.Fatal("wrapped key stored in the object's metadata")
	}
	if got, err := e.get(c, context.Background(), "instr"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetObject: %v", err)
	}
	if got, err := e.download(c, context.Background(), "instr"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}
}

// failingReader returns its data, then an error.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// Every failure aborts the multipart upload: nothing is stored and no
// upload is left behind.
func TestUploadFailuresAbort(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	ps := int(e.testPartSize())
	data := randBytes(t, 4*ps+100)
	errSource := errors.New("source broke")

	// The source fails after two parts.
	_, err := c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("broken"), Body: &failingReader{r: bytes.NewReader(data[:2*ps+10]), err: errSource},
	}, e.uploadOpts()...)
	mustErrorIs(t, err, errSource)
	// The source is shorter than ContentLength.
	in := uploadInput(e.bucket, "short", data[:3*ps], "known-length")
	in.ContentLength = aws.Int64(int64(len(data)))
	_, err = c.Upload(e.uploadCtx(context.Background()), in, e.uploadOpts()...)
	mustErrorIs(t, err, encryptionclient.ErrBodyLength)

	// The context is cancelled once the first part is stored.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = c.Upload(e.uploadCtx(ctx), uploadInput(e.bucket, "cancelled", data, "unknown-length"), e.uploadOpts(func(o *encryptionclient.UploadOptions) {
		o.Concurrency = 1
		o.Progress = func(int64) { cancel() }
	})...)
	mustErrorIs(t, err, context.Canceled)

	// S3 refuses a part.
	flaky := &flakyS3{S3API: e.plain, failPart: 3}
	fc, err := encryptionclient.New(flaky, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = fc.Upload(e.uploadCtx(context.Background()), uploadInput(e.bucket, "refused-part", data, "seekable"), e.uploadOpts()...)
	if !errors.Is(err, errFlaky) || flaky.aborts.Load() != 1 {
		t.Fatalf("error %v, %d aborts", err, flaky.aborts.Load())
	}

	for _, key := range []string{"broken", "short", "cancelled", "refused-part"} {
		if e.exists(key) {
			t.Errorf("%s: a failed upload stored an object", key)
		}
	}
	e.mustHaveNoUploads()
}

var errFlaky = errors.New("flaky: part refused")

// flakyS3 fails one part number, and can hold back the UploadPart calls of
// other parts until the part with the tag was sent.
type flakyS3 struct {
	encryptionclient.S3API
	failPart int32
	aborts   atomic.Int32

	holdUntilLast bool
	lastSent      chan struct{}
	lastPart      int32
	order         []int32
	mu            sync.Mutex
}

func (f *flakyS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	num := aws.ToInt32(in.PartNumber)
	f.mu.Lock()
	f.order = append(f.order, num)
	f.mu.Unlock()
	if num == f.failPart {
		return nil, errFlaky
	}
	if f.holdUntilLast {
		if num == f.lastPart {
			close(f.lastSent)
		} else {
			select {
			case <-f.lastSent:
			case <-time.After(10 * time.Second):
				return nil, errors.New("the last part was not sent while the others were held back")
			}
		}
	}
	return f.S3API.UploadPart(ctx, in, optFns...)
}

func (f *flakyS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.aborts.Add(1)
	return f.S3API.AbortMultipartUpload(ctx, in, optFns...)
}

// The part with the tag needs the other parts' hashes, not their uploads:
// it is sent while every other part's UploadPart is still held back.
func TestUploadLastPartWaitsOnlyForHashes(t *testing.T) {
	e := newEnv(t)
	flaky := &flakyS3{S3API: e.plain, holdUntilLast: true, lastSent: make(chan struct{}), lastPart: 4}
	c, err := encryptionclient.New(flaky, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	ps := int(e.testPartSize())
	data := randBytes(t, 3*ps+ps/2)
	out, err := c.Upload(e.uploadCtx(context.Background()), uploadInput(e.bucket, "early-tag", data, "seekable"), e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.Concurrency = 4 })...)
	if err != nil {
		t.Fatal(err)
	}
	if out.Parts != 4 {
		t.Fatalf("%d parts", out.Parts)
	}
	if got, err := e.download(e.client(e.krs["aes"]), context.Background(), "early-tag"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}
}

// A part whose connection drops is retried by the SDK with the same
// bytes, from the part's buffer.
func TestUploadPartRetryResendsIdenticalBytes(t *testing.T) {
	e := newEnv(t)
	proxy, proxyURL := newDropProxy(t, e.srv.URL, "/mp-retried", 2, 5000)
	viaProxy := s3.New(s3.Options{
		BaseEndpoint: aws.String(proxyURL), Region: e.srv.Region, UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider(e.srv.AccessKey, e.srv.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		RetryMaxAttempts:           5,
	})
	c, err := encryptionclient.New(viaProxy, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(t, int(e.testPartSize())/2+3) // one part, of the multipart kind
	if _, err := c.Upload(e.uploadCtx(context.Background()), uploadInput(e.bucket, "mp-retried", data, "unknown-length"), e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.Threshold = 1 })...); err != nil {
		t.Fatal(err)
	}
	if len(proxy.attempts) != 3 {
		t.Fatalf("%d attempts reached the proxy, want 3", len(proxy.attempts))
	}
	final := proxy.attempts[2]
	for i, a := range proxy.attempts[:2] {
		if len(a) == 0 || !bytes.Equal(a, final[:len(a)]) {
			t.Fatalf("attempt %d sent other bytes than the final attempt", i)
		}
	}
	if got, err := e.download(e.client(e.krs["aes"]), context.Background(), "mp-retried"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}
}

// The part size grows to keep the upload within the part limit.
func TestUploadPartSizeGrows(t *testing.T) {
	e := newEnv(t)
	if e.srv.Real {
		t.Skip("needs parts smaller than 5 MiB")
	}
	c := e.client(e.krs["aes"])
	data := randBytes(t, 10*1024+5)
	out, err := c.Upload(testhooks.WithPartLimits(context.Background(), 16, 4), uploadInput(e.bucket, "grown", data, "known-length"),
		func(o *encryptionclient.UploadOptions) { o.PartSize, o.Threshold = 1024, 1 })
	if err != nil {
		t.Fatal(err)
	}
	if out.Parts != 4 {
		t.Fatalf("%d parts, want 4", out.Parts)
	}
	if got, err := e.download(c, context.Background(), "grown"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %v", err)
	}
}

// Many uploads and downloads at once, each with several workers (run with
// -race).
func TestTransfersConcurrently(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["kms"])
	ps := int(e.testPartSize())
	n := 6
	if e.srv.Real {
		n = 3
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("parallel/%d", i)
			data := randBytes(t, 2*ps+i*1001)
			_, err := c.Upload(e.uploadCtx(context.Background()), uploadInput(e.bucket, key, data, bodyKinds[i%3]), e.uploadOpts()...)
			if err == nil {
				var got []byte
				got, err = e.download(c, context.Background(), key, func(o *encryptionclient.DownloadOptions) { o.PartSize = int64(ps / 2 &^ 15) })
				if err == nil && !bytes.Equal(got, data) {
					err = fmt.Errorf("%s: plaintext differs", key)
				}
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
