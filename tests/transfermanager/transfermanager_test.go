package transfermanager_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// The adapter is what transfermanager.New takes.
var _ transfermanager.S3APIClient = (*encryptionclient.TransferManagerAPI)(nil)

const partSize = encryptionclient.MinPartSize // 5 MiB, the smallest S3 takes

type env struct {
	t      *testing.T
	srv    *s3test.Server
	plain  *s3.Client
	bucket string
	kr     materials.Keyring
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, srv: s3test.Start(t)}
	e.plain = e.srv.Client()
	e.bucket = e.srv.CreateBucket(t, e.plain)
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	e.kr = kr
	// gofakes3 answers ListMultipartUploads with NoSuchUpload for a bucket
	// that never had an upload: give it one.
	prime, err := e.plain.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("prime")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("prime"), UploadId: prime.UploadId}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) client(optFns ...func(*encryptionclient.Options)) *encryptionclient.Client {
	e.t.Helper()
	c, err := encryptionclient.New(e.plain, e.kr, optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// tm returns a transfer manager over api with 5 MiB parts, a 5 MiB
// multipart threshold and three workers. The in-process server does not
// take aws-chunked trailing checksums: there the SDK sends none unless
// required (a real server gets the transfer manager's default, CRC32).
func (e *env) tm(api transfermanager.S3APIClient, optFns ...func(*transfermanager.Options)) *transfermanager.Client {
	return transfermanager.New(api, func(o *transfermanager.Options) {
		o.PartSizeBytes, o.MultipartUploadThreshold, o.Concurrency = partSize, partSize, 3
		if !e.srv.Real {
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
		for _, fn := range optFns {
			fn(o)
		}
	})
}

func (e *env) adapter(c *encryptionclient.Client) *encryptionclient.TransferManagerAPI {
	e.t.Helper()
	api, err := c.ForTransferManager(func(o *encryptionclient.TransferManagerOptions) { o.PartSize = partSize })
	if err != nil {
		e.t.Fatal(err)
	}
	return api
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// raw returns the stored object as the plain SDK reads it.
func (e *env) raw(key string) ([]byte, map[string]string) {
	e.t.Helper()
	out, err := e.plain.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		e.t.Fatalf("plain GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return b, out.Metadata
}

// exists reports whether key is stored.
func (e *env) exists(key string) bool {
	e.t.Helper()
	out, err := e.plain.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &e.bucket, Prefix: &key})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(out.Contents) > 0
}

// checkNoUploads fails the test if a multipart upload is left open.
func (e *env) checkNoUploads() {
	e.t.Helper()
	out, err := e.plain.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		e.t.Errorf("%d multipart uploads left open", len(out.Uploads))
	}
}

// checkEncrypted checks that key holds pt encrypted: the stored bytes are
// the ciphertext and tag (no 16-byte block of the plaintext at its place),
// and the Client reads pt back.
func (e *env) checkEncrypted(c *encryptionclient.Client, key string, pt []byte) {
	e.t.Helper()
	ct, _ := e.raw(key)
	if len(ct) != len(pt)+16 {
		e.t.Fatalf("%s: stored %d bytes for %d of plaintext, want ciphertext and a 16-byte tag", key, len(ct), len(pt))
	}
	for i := 0; i+16 <= len(pt); i += 16 {
		if bytes.Equal(ct[i:i+16], pt[i:i+16]) {
			e.t.Fatalf("%s: plaintext stored at offset %d", key, i)
		}
	}
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		e.t.Fatalf("%s: GetObject: %v", key, err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, pt) {
		e.t.Fatalf("%s: GetObject read %d bytes (err %v), want the %d uploaded", key, len(got), err, len(pt))
	}
}

// buffer is an io.WriterAt into memory that counts what it was given.
type buffer struct {
	mu      sync.Mutex
	b       []byte
	written int
}

func (w *buffer) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	copy(w.b[off:], p)
	w.written += len(p)
	return len(p), nil
}

// TestTransferManagerInterface: a *Client is not the transfer manager's S3
// client (it has no ListObjectsV2), so that it cannot be handed to
// transfermanager.New by mistake; ForTransferManager's adapter is.
func TestTransferManagerInterface(t *testing.T) {
	tmAPI := reflect.TypeOf((*transfermanager.S3APIClient)(nil)).Elem()
	if reflect.TypeOf((*encryptionclient.Client)(nil)).Implements(tmAPI) {
		t.Fatal("*encryptionclient.Client satisfies transfermanager.S3APIClient: its requests would bypass the adapter")
	}
	c, err := encryptionclient.New(s3.New(s3.Options{Region: "us-east-1"}), mustAES(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{0, 5<<20 + 1, 4 << 20} {
		if _, err := c.ForTransferManager(func(o *encryptionclient.TransferManagerOptions) { o.PartSize = size }); size != 0 && !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("part size %d: err %v, want ErrInvalidInput", size, err)
		} else if size == 0 && err != nil {
			t.Errorf("default part size: %v", err)
		}
	}
}

func mustAES(t *testing.T) materials.Keyring {
	kr, err := materials.NewAESKeyring(random(t, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestTransferManagerUploadEncrypts: UploadObject over the adapter stores
// encrypted objects that the Client reads back, on each of its paths: a
// single PutObject under the threshold, a multipart upload whose last part
// is short, and one whose parts all have the full size (the adapter adds
// the tag part).
func TestTransferManagerUploadEncrypts(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	tm := e.tm(e.adapter(c))
	for _, tc := range []struct {
		name string
		size int
	}{
		{"single", 1<<20 + 3},
		{"short-last", 2*partSize + 12345},
		{"full-parts", 3 * partSize},
		{"one-full-part", partSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt := random(t, tc.size)
			key := "tm/" + tc.name
			out, err := tm.UploadObject(context.Background(), &transfermanager.UploadObjectInput{
				Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(pt),
			})
			if err != nil {
				t.Fatalf("UploadObject: %v", err)
			}
			if aws.ToInt64(out.ContentLength) != int64(tc.size) {
				t.Errorf("UploadObject reports %d bytes, want %d", aws.ToInt64(out.ContentLength), tc.size)
			}
			e.checkEncrypted(c, key, pt)
			// Download reads it too: the parts' sums make one tag.
			var w buffer
			if n, err := c.Download(context.Background(), &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}); err != nil || n != int64(tc.size) || !bytes.Equal(w.b, pt) {
				t.Fatalf("Download: %d bytes, err %v", n, err)
			}
		})
	}
	e.checkNoUploads()
}

// TestTransferManagerUploadFailsClosed: a transfer manager whose part size
// is not the adapter's fails with ErrPartSize; the transfer manager aborts,
// and neither an object nor an upload is left.
func TestTransferManagerUploadFailsClosed(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	tm := e.tm(e.adapter(c), func(o *transfermanager.Options) { o.PartSizeBytes = partSize + 1<<20 })
	key := "tm/wrong-part-size"
	_, err := tm.UploadObject(context.Background(), &transfermanager.UploadObjectInput{
		Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(random(t, 3*partSize)),
	})
	if !errors.Is(err, encryptionclient.ErrPartSize) {
		t.Fatalf("err %v, want ErrPartSize", err)
	}
	if e.exists(key) {
		t.Error("an object was written")
	}
	e.checkNoUploads()
}

// TestTransferManagerDownloadAuthenticated: DownloadObject and GetObject of
// the transfer manager over the adapter read the object whole through the
// Client's authenticated GetObject (also one uploaded in parts by
// Client.Upload); an altered object fails with ErrAuthentication before a
// byte is written.
func TestTransferManagerDownloadAuthenticated(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	tm := e.tm(e.adapter(c))
	pt := random(t, 2*partSize+777)
	key := "tm/download"
	if _, err := c.Upload(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(pt)},
		func(o *encryptionclient.UploadOptions) { o.PartSize, o.Concurrency = partSize, 3 }); err != nil {
		t.Fatal(err)
	}
	var w buffer
	out, err := tm.DownloadObject(context.Background(), &transfermanager.DownloadObjectInput{Bucket: &e.bucket, Key: &key, WriterAt: &w})
	if err != nil {
		t.Fatalf("DownloadObject: %v", err)
	}
	if !bytes.Equal(w.b, pt) || aws.ToInt64(out.ContentLength) != int64(len(pt)) {
		t.Fatalf("DownloadObject: %d bytes (reported %d), want the %d uploaded", len(w.b), aws.ToInt64(out.ContentLength), len(pt))
	}
	g, err := tm.GetObject(context.Background(), &transfermanager.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, err := io.ReadAll(g.Body)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("GetObject: %d bytes, err %v", len(got), err)
	}

	// Alter one byte of the stored ciphertext, metadata kept.
	ct, meta := e.raw(key)
	ct[len(pt)/2] ^= 1
	if _, err := e.plain.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(ct), Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	var bad buffer
	_, err = tm.DownloadObject(context.Background(), &transfermanager.DownloadObjectInput{Bucket: &e.bucket, Key: &key, WriterAt: &bad})
	if !errors.Is(err, encryptionclient.ErrAuthentication) {
		t.Fatalf("DownloadObject of an altered object: err %v, want ErrAuthentication", err)
	}
	if bad.written != 0 {
		t.Fatalf("%d bytes of unauthenticated plaintext written", bad.written)
	}
	g, err = tm.GetObject(context.Background(), &transfermanager.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if err == nil {
		got, err = io.ReadAll(g.Body)
		if len(got) != 0 {
			t.Fatalf("GetObject of an altered object released %d bytes", len(got))
		}
	}
	if !errors.Is(err, encryptionclient.ErrAuthentication) {
		t.Fatalf("GetObject of an altered object: err %v, want ErrAuthentication", err)
	}
}

// TestTransferManagerDownloadFailsClosed: what the adapter cannot serve
// authenticated fails with ErrTransferManager naming Client.Download, and
// writes nothing: an object beyond Options.BufferSize, ranged GETs
// (GetObjectType ranges) without Options.EnableUnauthenticatedRanges, a
// part other than the first. With EnableUnauthenticatedRanges the caller
// asked for unauthenticated ranges, and gets them.
func TestTransferManagerDownloadFailsClosed(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(o *encryptionclient.Options) { o.BufferSize = 1 << 20 })
	pt := random(t, partSize+100)
	key := "tm/large"
	if _, err := c.Upload(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(pt)}); err != nil {
		t.Fatal(err)
	}
	refused := func(name string, err error, w *buffer, cause error) {
		t.Helper()
		var tme *encryptionclient.TransferManagerError
		if !errors.Is(err, encryptionclient.ErrTransferManager) || !errors.As(err, &tme) || !strings.Contains(tme.Use, "Client.Download") {
			t.Errorf("%s: err %v, want a *TransferManagerError naming Client.Download", name, err)
		}
		if cause != nil && !errors.Is(err, cause) {
			t.Errorf("%s: err %v, want it to wrap %v", name, err, cause)
		}
		if w != nil && w.written != 0 {
			t.Errorf("%s: %d bytes written", name, w.written)
		}
	}

	tm := e.tm(e.adapter(c))
	var w buffer
	_, err := tm.DownloadObject(context.Background(), &transfermanager.DownloadObjectInput{Bucket: &e.bucket, Key: &key, WriterAt: &w})
	refused("over BufferSize", err, &w, encryptionclient.ErrTooLarge)

	ranges := func(o *transfermanager.Options) { o.GetObjectType = tmtypes.GetObjectRanges }
	small := "tm/small"
	spt := random(t, 1000)
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: &small, Body: bytes.NewReader(spt)}); err != nil {
		t.Fatal(err)
	}
	var wr buffer
	_, err = tm.DownloadObject(context.Background(), &transfermanager.DownloadObjectInput{Bucket: &e.bucket, Key: &small, WriterAt: &wr}, ranges)
	refused("ranges", err, &wr, encryptionclient.ErrPolicy)
	// The transfer manager's GetObject asks for its ranges when read.
	g, err := tm.GetObject(context.Background(), &transfermanager.GetObjectInput{Bucket: &e.bucket, Key: &small}, ranges)
	if err == nil {
		var got []byte
		got, err = io.ReadAll(g.Body)
		if len(got) != 0 {
			t.Errorf("GetObject by ranges released %d bytes", len(got))
		}
	}
	refused("GetObject by ranges", err, nil, encryptionclient.ErrPolicy)

	api := e.adapter(c)
	_, err = api.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: &key, PartNumber: aws.Int32(2)})
	refused("PartNumber 2", err, nil, nil)
	_, err = api.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: &key, PartNumber: aws.Int32(2)})
	refused("HEAD PartNumber 2", err, nil, nil)

	// Opted in: unauthenticated ranges, in parallel.
	cr := e.client(func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	tmr := e.tm(e.adapter(cr), func(o *transfermanager.Options) { o.PartSizeBytes = 1 << 20 })
	var wo buffer
	if _, err := tmr.DownloadObject(context.Background(), &transfermanager.DownloadObjectInput{Bucket: &e.bucket, Key: &key, WriterAt: &wo}, ranges); err != nil || !bytes.Equal(wo.b, pt) {
		t.Fatalf("ranges with EnableUnauthenticatedRanges: %d bytes, err %v", len(wo.b), err)
	}
}

// handWrapped is a Client given the one method it lacks, as a user might
// write it to hand the Client itself to the transfer manager.
type handWrapped struct {
	*encryptionclient.Client
	plain *s3.Client
}

func (h handWrapped) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return h.plain.ListObjectsV2(ctx, in, optFns...)
}

// TestTransferManagerHandWrappedFailsClosed: the Client handed to the
// transfer manager without the adapter never stores plaintext: a small
// object goes through its PutObject (encrypted), a multipart upload is
// refused before S3 sees it (no part size), and the transfer manager's
// part GET is refused before anything is written.
func TestTransferManagerHandWrappedFailsClosed(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	tm := e.tm(handWrapped{c, e.plain})

	small := "hand/small"
	spt := random(t, 4096)
	if _, err := tm.UploadObject(context.Background(), &transfermanager.UploadObjectInput{Bucket: &e.bucket, Key: &small, Body: bytes.NewReader(spt)}); err != nil {
		t.Fatalf("small UploadObject: %v", err)
	}
	e.checkEncrypted(c, small, spt)

	large := "hand/large"
	_, err := tm.UploadObject(context.Background(), &transfermanager.UploadObjectInput{Bucket: &e.bucket, Key: &large, Body: bytes.NewReader(random(t, 2*partSize))})
	if !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatalf("multipart UploadObject: err %v, want ErrInvalidInput", err)
	}
	if e.exists(large) {
		t.Error("an object was written")
	}
	e.checkNoUploads()

	var w buffer
	_, err = tm.DownloadObject(context.Background(), &transfermanager.DownloadObjectInput{Bucket: &e.bucket, Key: &small, WriterAt: &w})
	if !errors.Is(err, encryptionclient.ErrInvalidInput) || w.written != 0 {
		t.Fatalf("DownloadObject: err %v, %d bytes written; want ErrInvalidInput and nothing", err, w.written)
	}
}

// failingPart is an S3 client whose UploadPart of one part number fails,
// after a delay that lets the later parts arrive first.
type failingPart struct {
	*s3.Client
	part int32
}

var errPartRefused = errors.New("part refused by the test server")

func (f failingPart) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if aws.ToInt32(in.PartNumber) == f.part {
		time.Sleep(200 * time.Millisecond)
		return nil, errPartRefused
	}
	return f.Client.UploadPart(ctx, in, optFns...)
}

// TestTransferManagerPartFailureAborts: when an earlier part fails, the
// short last part that waits for it fails too (no deadlock, no tag sent),
// the transfer manager aborts, and neither an object nor an upload is
// left; the same with every part full, where the tag part is never sent.
func TestTransferManagerPartFailureAborts(t *testing.T) {
	e := newEnv(t)
	c, err := encryptionclient.New(failingPart{e.plain, 1}, e.kr)
	if err != nil {
		t.Fatal(err)
	}
	tm := e.tm(e.adapter(c))
	for _, size := range []int{partSize + 999, 2 * partSize} {
		key := fmt.Sprintf("tm/fail-%d", size)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(random(t, size))})
		cancel()
		if !errors.Is(err, errPartRefused) {
			t.Fatalf("%d bytes: err %v, want the part's failure", size, err)
		}
		if e.exists(key) {
			t.Errorf("%d bytes: an object was written", size)
		}
	}
	e.checkNoUploads()
}
