package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testhooks"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// rwS3 is an S3API over the test server that counts every write request
// and lets a test interfere with reads and writes of a rewrite.
type rwS3 struct {
	*s3.Client

	mu        sync.Mutex
	writes    map[string]int
	puts      []*s3.PutObjectInput
	creates   []*s3.CreateMultipartUploadInput
	completes []*s3.CompleteMultipartUploadInput
	deletes   []string

	fakeTags       []types.Tag                                   // served by GetObjectTagging (the in-process server has no tagging)
	onHead         func(*s3.HeadObjectOutput)                    // edits HeadObject's answers, and GetObject's headers
	onGet          func(*s3.GetObjectInput, *s3.GetObjectOutput) // may replace out.Body
	beforeWrite    func(key string)                              // before PutObject and CompleteMultipartUpload
	afterPut       func(key string)                              // after a PutObject succeeded
	failDeleteKeys map[string]bool
}

func newRW(e *env) *rwS3 { return &rwS3{Client: e.plain, writes: map[string]int{}} }

func (h *rwS3) write(op string) {
	h.mu.Lock()
	h.writes[op]++
	h.mu.Unlock()
}

// nWrites is the number of write requests of any kind.
func (h *rwS3) nWrites() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, v := range h.writes {
		n += v
	}
	return n
}

func (h *rwS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	out, err := h.Client.HeadObject(ctx, in, optFns...)
	if err == nil && h.onHead != nil {
		h.onHead(out)
	}
	return out, err
}

func (h *rwS3) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, optFns ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	if h.fakeTags != nil {
		return &s3.GetObjectTaggingOutput{TagSet: h.fakeTags}, nil
	}
	return h.Client.GetObjectTagging(ctx, in, optFns...)
}

func (h *rwS3) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := h.Client.GetObject(ctx, in, optFns...)
	if err == nil && h.onHead != nil {
		editHeaders(out, h.onHead)
	}
	if err == nil && h.onGet != nil {
		h.onGet(in, out)
	}
	return out, err
}

// editHeaders applies an onHead edit to the headers of a GetObject answer,
// which describe the object as HeadObject's do (ReEncrypt reads its source
// with one GetObject, Adopt with HeadObject and a GetObject).
func editHeaders(out *s3.GetObjectOutput, edit func(*s3.HeadObjectOutput)) {
	o := &s3.HeadObjectOutput{
		ETag: out.ETag, VersionId: out.VersionId, ContentLength: out.ContentLength, Metadata: out.Metadata,
		TagCount: out.TagCount, StorageClass: out.StorageClass, ContentType: out.ContentType,
		CacheControl: out.CacheControl, ContentDisposition: out.ContentDisposition, ContentEncoding: out.ContentEncoding,
		ContentLanguage: out.ContentLanguage, ExpiresString: out.ExpiresString,
		WebsiteRedirectLocation: out.WebsiteRedirectLocation, ServerSideEncryption: out.ServerSideEncryption,
		SSEKMSKeyId: out.SSEKMSKeyId, BucketKeyEnabled: out.BucketKeyEnabled, ObjectLockMode: out.ObjectLockMode,
		ObjectLockRetainUntilDate: out.ObjectLockRetainUntilDate, ObjectLockLegalHoldStatus: out.ObjectLockLegalHoldStatus,
	}
	edit(o)
	out.ETag, out.VersionId, out.ContentLength, out.Metadata = o.ETag, o.VersionId, o.ContentLength, o.Metadata
	out.TagCount, out.StorageClass, out.ContentType = o.TagCount, o.StorageClass, o.ContentType
	out.CacheControl, out.ContentDisposition, out.ContentEncoding = o.CacheControl, o.ContentDisposition, o.ContentEncoding
	out.ContentLanguage, out.ExpiresString = o.ContentLanguage, o.ExpiresString
	out.WebsiteRedirectLocation, out.ServerSideEncryption = o.WebsiteRedirectLocation, o.ServerSideEncryption
	out.SSEKMSKeyId, out.BucketKeyEnabled, out.ObjectLockMode = o.SSEKMSKeyId, o.BucketKeyEnabled, o.ObjectLockMode
	out.ObjectLockRetainUntilDate, out.ObjectLockLegalHoldStatus = o.ObjectLockRetainUntilDate, o.ObjectLockLegalHoldStatus
}

func (h *rwS3) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	h.write("PutObject")
	h.mu.Lock()
	h.puts = append(h.puts, in)
	h.mu.Unlock()
	if h.beforeWrite != nil {
		h.beforeWrite(aws.ToString(in.Key))
	}
	out, err := h.Client.PutObject(ctx, in, optFns...)
	if err == nil && h.afterPut != nil {
		h.afterPut(aws.ToString(in.Key))
	}
	return out, err
}

func (h *rwS3) CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	h.write("CopyObject")
	return h.Client.CopyObject(ctx, in, optFns...)
}

func (h *rwS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	h.write("CreateMultipartUpload")
	h.mu.Lock()
	h.creates = append(h.creates, in)
	h.mu.Unlock()
	return h.Client.CreateMultipartUpload(ctx, in, optFns...)
}

func (h *rwS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	h.write("UploadPart")
	return h.Client.UploadPart(ctx, in, optFns...)
}

func (h *rwS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	h.write("CompleteMultipartUpload")
	h.mu.Lock()
	h.completes = append(h.completes, in)
	h.mu.Unlock()
	if h.beforeWrite != nil {
		h.beforeWrite(aws.ToString(in.Key))
	}
	return h.Client.CompleteMultipartUpload(ctx, in, optFns...)
}

func (h *rwS3) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	h.write("DeleteObject")
	h.mu.Lock()
	h.deletes = append(h.deletes, aws.ToString(in.Key))
	fail := h.failDeleteKeys[aws.ToString(in.Key)]
	h.mu.Unlock()
	if fail {
		return nil, errors.New("injected: DeleteObject refused")
	}
	return h.Client.DeleteObject(ctx, in, optFns...)
}

func (h *rwS3) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	h.write("DeleteObjects")
	return h.Client.DeleteObjects(ctx, in, optFns...)
}

// rwClient is an encryption client over h.
func (e *env) rwClient(h *rwS3, kr materials.Keyring, optFns ...func(*encryptionclient.Options)) *encryptionclient.Client {
	e.t.Helper()
	c, err := encryptionclient.New(h, kr, optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// allowV2 lets a client read V2 objects (it writes V3).
func allowV2(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }

// writeV2 makes a client write V2 objects.
func writeV2(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt }

// smallParts lowers the multipart limits on the in-process server.
func (e *env) smallParts(ctx context.Context) context.Context {
	if e.srv.Real {
		return ctx
	}
	return testhooks.WithPartLimits(ctx, 16, encryptionclient.MaxUploadParts)
}

// mpSizes are the part size and threshold of a test's multipart path, and
// the size of an object that takes it.
func (e *env) mpSizes() (partSize, threshold int64, size int) {
	if e.srv.Real {
		return encryptionclient.MinPartSize, encryptionclient.MinPartSize, 2*encryptionclient.MinPartSize + 1000
	}
	// Larger than the decrypter's 256 KiB read buffer, so that parts are
	// sent before the source's tag is checked.
	return 64 << 10, 256 << 10, 1<<20 + 7
}

// storedFormat reads the stored envelope of key.
func (e *env) storedFormat(key string) *encryptionclient.EnvelopeOutput {
	e.t.Helper()
	out, err := encryptionclient.ReadEnvelope(context.Background(), e.plain, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// leftUploads counts the bucket's unfinished multipart uploads (the
// in-process server answers NoSuchUpload for a bucket that never had one).
func (e *env) leftUploads() int {
	e.t.Helper()
	out, err := e.plain.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload" && !e.srv.Real {
		return 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return len(out.Uploads)
}

// strictRead reads key with a client that reads only V3 (committing)
// objects, with kr.
func (e *env) strictRead(kr materials.Keyring, key string) []byte {
	e.t.Helper()
	got, err := e.get(e.client(kr), context.Background(), key)
	if err != nil {
		e.t.Fatalf("read %s as V3: %v", key, err)
	}
	return got
}

// V2 objects (small, and multipart-sized) move to V3 under the target
// keyring; the result reads with a V3-only client and no longer with the
// old keyring.
func TestReEncryptV2ToV3(t *testing.T) {
	e := newEnv(t)
	partSize, threshold, size := e.mpSizes()
	for _, name := range []string{"kms", "aes"} {
		for _, n := range []int{0, 1, 100, size} {
			key := name + "-" + strings.Repeat("x", n%7) + string(rune('a'+n%26))
			old := e.krs[name]
			pt := randBytes(t, n)
			if err := e.put(e.client(old, writeV2), context.Background(), key, pt); err != nil {
				t.Fatal(err)
			}
			target := mustAES(t, map[string]string{"gen": "3"})
			ctx := e.smallParts(context.Background())
			out, err := e.client(old, allowV2).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{
				Bucket: &e.bucket, Key: &key, Keyring: target, MultipartThreshold: threshold, PartSize: partSize,
				EncryptionContext: map[string]string{},
			})
			if err != nil {
				t.Fatalf("%s %d bytes: %v", name, n, err)
			}
			if out.From != envelope.FormatV2 || out.To != envelope.FormatV3 || out.ToSuite != envelope.SuiteAESGCMCommitting ||
				out.Size != int64(n) || out.Multipart != (int64(n) > threshold) || out.ETag == nil || !slicesEqual(out.NotKept, []string{"ACL"}) {
				t.Fatalf("%s %d bytes: output %+v", name, n, out)
			}
			if got := e.strictRead(target, key); !bytes.Equal(got, pt) {
				t.Fatalf("%s %d bytes: plaintext differs after ReEncrypt", name, n)
			}
			// (gofakes3 reports another ETag for a completed multipart
			// upload than its HeadObject.)
			if env := e.storedFormat(key); env.Envelope.Format != envelope.FormatV3 || env.HeadObject.ETag == nil || (*env.HeadObject.ETag != *out.ETag && (e.srv.Real || !out.Multipart)) {
				t.Fatalf("%s %d bytes: stored %v, ETag %v (output %v)", name, n, env.Envelope.Format, aws.ToString(env.HeadObject.ETag), aws.ToString(out.ETag))
			}
			if _, err := e.get(e.client(old, allowV2), context.Background(), key); err == nil {
				t.Fatalf("%s: the old keyring still reads the re-encrypted object", name)
			}
		}
	}
	if n := e.leftUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The AWS-written legacy CBC vectors (V1 envelopes, in metadata and in
// instruction files) move to V3 behind the legacy opt-ins; the old
// instruction files are deleted once the new object, whose envelope is
// in its metadata, is stored. Without the opt-ins nothing is rewritten.
func TestReEncryptLegacyCBCToV3(t *testing.T) {
	e := newEnv(t)
	cases := putCBCVectors(t, e, false)
	target := e.krs["aes"]
	partSize, threshold, _ := e.mpSizes()
	sawInstr := false
	for _, cc := range cases {
		h := newRW(e)
		// No legacy opt-in: refused, nothing written.
		_, err := e.rwClient(h, cc.kr, allowV2).ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &cc.key, Keyring: target})
		mustErrorIs(t, err, encryptionclient.ErrPolicy)
		if h.nWrites() != 0 {
			t.Fatalf("%s: %d writes for a refused object", cc.name, h.nWrites())
		}
		hadInstr := e.exists(cc.key + ".instruction")
		sawInstr = sawInstr || hadInstr
		legacy := e.rwClient(h, cc.kr, func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
			o.EnableLegacyUnauthenticatedModes = true
		})
		// The legacy modes, without the opt-in for an unauthenticated
		// source: refused, nothing written.
		in := &encryptionclient.ReEncryptInput{
			Bucket: &e.bucket, Key: &cc.key, Keyring: target, MultipartThreshold: threshold, PartSize: partSize,
		}
		_, err = legacy.ReEncrypt(e.smallParts(context.Background()), in)
		mustErrorIs(t, err, encryptionclient.ErrUnauthenticatedSource)
		if h.nWrites() != 0 {
			t.Fatalf("%s: %d writes for a refused object", cc.name, h.nWrites())
		}
		in.AllowUnauthenticatedSource = true
		out, err := legacy.ReEncrypt(e.smallParts(context.Background()), in)
		if err != nil {
			t.Fatalf("%s: %v", cc.name, err)
		}
		if out.SourceAuthenticated {
			t.Fatalf("%s: a CBC source reported authenticated", cc.name)
		}
		if out.FromSuite != envelope.SuiteAESCBC || out.To != envelope.FormatV3 || out.Size != int64(len(cc.pt)) {
			t.Fatalf("%s: output %+v", cc.name, out)
		}
		if got := e.strictRead(target, cc.key); !bytes.Equal(got, cc.pt) {
			t.Fatalf("%s: plaintext differs", cc.name)
		}
		if hadInstr {
			if e.exists(cc.key + ".instruction") {
				t.Fatalf("%s: the old instruction file was left", cc.name)
			}
			if !slicesEqual(h.deletes, []string{cc.key + ".instruction"}) {
				t.Fatalf("%s: deletes %v", cc.name, h.deletes)
			}
		} else if len(h.deletes) != 0 {
			t.Fatalf("%s: deleted %v for a metadata envelope", cc.name, h.deletes)
		}
	}
	if !sawInstr {
		t.Fatal("no CBC vector with an instruction file")
	}
}

// A V3 object under the target key is already current: ErrAlreadyCurrent
// and not one write, on the first run (the client's own keyring) and on
// the rerun of a finished job (another target); Force rewrites it.
func TestReEncryptAlreadyCurrentRerunWritesNothing(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"kms", "aes"} {
		kr := e.krs[name]
		key := "current-" + name
		pt := randBytes(t, 300)
		if err := e.put(e.client(kr, writeV2), context.Background(), key, pt); err != nil {
			t.Fatal(err)
		}
		target := e.krs["aes"]
		if name == "aes" {
			target = mustAES(t, nil)
		}
		h := newRW(e)
		c := e.rwClient(h, kr, allowV2)
		in := &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target}
		if _, err := c.ReEncrypt(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		first := h.nWrites()
		if first == 0 {
			t.Fatal("the first run wrote nothing")
		}
		// The rerun: the source is V3 now, under target, which the
		// client reading it must also hold.
		rerun := e.rwClient(h, target)
		_, err := rerun.ReEncrypt(context.Background(), in)
		mustErrorIs(t, err, encryptionclient.ErrAlreadyCurrent)
		var oe *encryptionclient.ObjectError
		if !errors.As(err, &oe) || oe.Op != "ReEncrypt" || oe.Key != key {
			t.Fatalf("error %v is not an ObjectError of ReEncrypt", err)
		}
		// The client's keyring as the target (nil).
		_, err = rerun.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key})
		mustErrorIs(t, err, encryptionclient.ErrAlreadyCurrent)
		if h.nWrites() != first {
			t.Fatalf("the reruns wrote %d requests", h.nWrites()-first)
		}
		// Another context than the stored one is not current.
		if name == "kms" {
			_, err = rerun.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, EncryptionContext: map[string]string{"a": "b"}})
			if errors.Is(err, encryptionclient.ErrAlreadyCurrent) {
				t.Fatal("a new context counted as current")
			}
		}
		before := e.head(key).ETag
		out, err := rerun.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ETag) == aws.ToString(before) || h.nWrites() == first {
			t.Fatal("Force did not rewrite")
		}
		if got := e.strictRead(target, key); !bytes.Equal(got, pt) {
			t.Fatal("plaintext differs after a forced rewrite")
		}
	}
}

// tamper flips one byte of the stored ciphertext of key, keeping its
// metadata.
func (e *env) tamper(key string, at int) {
	e.t.Helper()
	body, meta, err := e.raw(key)
	if err != nil {
		e.t.Fatal(err)
	}
	body[at%len(body)] ^= 0x40
	e.putRaw(key, body, meta)
}

// A source whose ciphertext was altered fails authentication: on the
// small path nothing is sent at all, on the multipart path the upload is
// aborted before its completion; the stored object is untouched and no
// multipart upload is left.
func TestReEncryptTamperedSourceWritesNothing(t *testing.T) {
	e := newEnv(t)
	partSize, threshold, size := e.mpSizes()
	for _, n := range []int{200, size} {
		key := "tampered"
		pt := randBytes(t, n)
		old := e.krs["aes"]
		if err := e.put(e.client(old, writeV2), context.Background(), key, pt); err != nil {
			t.Fatal(err)
		}
		e.tamper(key, n/2)
		stored, _, _ := e.raw(key)
		h := newRW(e)
		ctx := e.smallParts(context.Background())
		_, err := e.rwClient(h, old, allowV2).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{
			Bucket: &e.bucket, Key: &key, Keyring: mustAES(t, nil), MultipartThreshold: threshold, PartSize: partSize,
		})
		mustErrorIs(t, err, encryptionclient.ErrAuthentication)
		if h.writes["PutObject"] != 0 || h.writes["CompleteMultipartUpload"] != 0 {
			t.Fatalf("%d bytes: writes %v", n, h.writes)
		}
		if int64(n) > threshold && (h.writes["CreateMultipartUpload"] != 1 || h.writes["UploadPart"] == 0) {
			t.Fatalf("%d bytes: the multipart path was not taken: %v", n, h.writes)
		}
		if got, _, _ := e.raw(key); !bytes.Equal(got, stored) {
			t.Fatalf("%d bytes: the stored object changed", n)
		}
		if m := e.leftUploads(); m != 0 {
			t.Fatalf("%d bytes: %d multipart uploads left", n, m)
		}
	}
}

// A writer that replaces the object between the read and the write wins:
// the write is conditional on the ETag read (ErrObjectChanged), and the
// writer's object survives.
func TestReEncryptConcurrentWriterWins(t *testing.T) {
	e := newEnv(t)
	partSize, threshold, size := e.mpSizes()
	for _, n := range []int{100, size} {
		key := "raced"
		old := e.krs["aes"]
		if err := e.put(e.client(old, writeV2), context.Background(), key, randBytes(t, n)); err != nil {
			t.Fatal(err)
		}
		etag := aws.ToString(e.head(key).ETag)
		theirs := []byte("the concurrent writer's object")
		h := newRW(e)
		once := sync.Once{}
		h.beforeWrite = func(k string) {
			if k == key {
				once.Do(func() { e.putRaw(key, theirs, map[string]string{"writer": "them"}) })
			}
		}
		ctx := e.smallParts(context.Background())
		_, err := e.rwClient(h, old, allowV2).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{
			Bucket: &e.bucket, Key: &key, Keyring: mustAES(t, nil), MultipartThreshold: threshold, PartSize: partSize,
		})
		multipart := int64(n) > threshold
		if multipart {
			// The write is conditional on the ETag read.
			if len(h.completes) != 1 || aws.ToString(h.completes[0].IfMatch) != etag {
				t.Fatalf("CompleteMultipartUpload not conditional on %s", etag)
			}
			if !e.srv.Real {
				continue // gofakes3 ignores If-Match on CompleteMultipartUpload
			}
		} else if len(h.puts) != 1 || aws.ToString(h.puts[0].IfMatch) != etag {
			t.Fatalf("PutObject not conditional on %s", etag)
		}
		mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
		got, meta, err := e.raw(key)
		if err != nil || !bytes.Equal(got, theirs) || meta["writer"] != "them" {
			t.Fatalf("%d bytes: the writer's object was lost: %q %v %v", n, got, meta, err)
		}
		if m := e.leftUploads(); m != 0 {
			t.Fatalf("%d multipart uploads left", m)
		}
	}
}

// IfMatch and VersionId name what the caller expects: another ETag, or a
// version that is not the current one, is ErrObjectChanged (only the
// current version can be rewritten in place), with nothing written.
func TestReEncryptPinsVersionAndETag(t *testing.T) {
	e := newEnv(t)
	e.enableVersioning()
	kr := e.krs["aes"]
	key := "versions"
	if err := e.put(e.client(kr, writeV2), context.Background(), key, []byte("one")); err != nil {
		t.Fatal(err)
	}
	first := e.head(key)
	if err := e.put(e.client(kr, writeV2), context.Background(), key, []byte("two")); err != nil {
		t.Fatal(err)
	}
	current := e.head(key)
	if aws.ToString(first.VersionId) == "" || aws.ToString(first.VersionId) == aws.ToString(current.VersionId) {
		t.Skipf("%s gives no distinct version ids", e.srv.Name)
	}
	h := newRW(e)
	c := e.rwClient(h, kr, allowV2)
	target := mustAES(t, nil)
	_, err := c.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target, VersionId: first.VersionId})
	mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
	_, err = c.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target, IfMatch: first.ETag})
	mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
	if h.nWrites() != 0 {
		t.Fatalf("%d writes", h.nWrites())
	}
	out, err := c.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target, VersionId: current.VersionId, IfMatch: current.ETag})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.VersionId) == "" || aws.ToString(out.VersionId) == aws.ToString(current.VersionId) {
		t.Fatalf("no new version: %v", aws.ToString(out.VersionId))
	}
	if got := e.strictRead(target, key); string(got) != "two" {
		t.Fatalf("got %q", got)
	}
}

// The rewrite keeps the user metadata, the content headers, the tags, the
// storage class and the server-side encryption settings; it drops the old
// envelope and lists ACL as not kept.
func TestReEncryptKeepsAttributes(t *testing.T) {
	e := newEnv(t)
	partSize, threshold, size := e.mpSizes()
	for _, n := range []int{50, size} {
		key := "attrs"
		old := e.krs["aes"]
		expires := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
		_, err := e.client(old, writeV2).PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(randBytes(t, n)),
			Metadata:    map[string]string{"owner": "alice", "project": "x"},
			ContentType: aws.String("text/x-test"), ContentEncoding: aws.String("identity"), ContentDisposition: aws.String("attachment"),
			ContentLanguage: aws.String("fr"), CacheControl: aws.String("max-age=60"), Expires: &expires,
			WebsiteRedirectLocation: aws.String("/elsewhere"), Tagging: aws.String("team=blue&tier=gold"),
		})
		if err != nil {
			t.Fatal(err)
		}
		h := newRW(e)
		if !e.srv.Real {
			h.fakeTags = []types.Tag{{Key: aws.String("team"), Value: aws.String("blue")}, {Key: aws.String("tier"), Value: aws.String("gold")}}
		}
		var before *s3.HeadObjectOutput
		h.onHead = func(o *s3.HeadObjectOutput) {
			defer func() {
				if aws.ToString(o.ContentType) == "text/x-test" {
					before = o
				}
			}()
			if h.fakeTags != nil {
				o.TagCount = aws.Int32(2)
			}
			if aws.ToString(o.ContentType) == "text/x-test" && !e.srv.Real {
				// Headers the in-process server does not keep, and SSE
				// settings it does not apply (a real server may have no
				// KMS or no STANDARD_IA).
				o.CacheControl, o.ContentLanguage = aws.String("max-age=60"), aws.String("fr")
				o.ExpiresString = aws.String(expires.Format(http.TimeFormat))
				o.ServerSideEncryption = types.ServerSideEncryptionAwsKms
				o.SSEKMSKeyId = aws.String("arn:aws:kms:us-east-1:111122223333:key/sse")
				o.BucketKeyEnabled = aws.Bool(true)
				o.StorageClass = types.StorageClassStandardIa
			}
		}
		ctx := e.smallParts(context.Background())
		target := mustAES(t, nil)
		out, err := e.rwClient(h, old, allowV2).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{
			Bucket: &e.bucket, Key: &key, Keyring: target, MultipartThreshold: threshold, PartSize: partSize,
		})
		if err != nil {
			t.Fatal(err)
		}
		// What was sent (the in-process server does not keep SSE and
		// storage classes).
		var sse types.ServerSideEncryption
		var kmsKey *string
		var bucketKey *bool
		var class types.StorageClass
		var meta map[string]string
		var tagging *string
		var headers [6]*string
		var sentExpires *time.Time
		if out.Multipart {
			cr := h.creates[0]
			sse, kmsKey, bucketKey, class, meta, tagging = cr.ServerSideEncryption, cr.SSEKMSKeyId, cr.BucketKeyEnabled, cr.StorageClass, cr.Metadata, cr.Tagging
			headers = [6]*string{cr.ContentType, cr.ContentEncoding, cr.ContentDisposition, cr.ContentLanguage, cr.CacheControl, cr.WebsiteRedirectLocation}
			sentExpires = cr.Expires
		} else {
			p := h.puts[0]
			sse, kmsKey, bucketKey, class, meta, tagging = p.ServerSideEncryption, p.SSEKMSKeyId, p.BucketKeyEnabled, p.StorageClass, p.Metadata, p.Tagging
			headers = [6]*string{p.ContentType, p.ContentEncoding, p.ContentDisposition, p.ContentLanguage, p.CacheControl, p.WebsiteRedirectLocation}
			sentExpires = p.Expires
		}
		// Every header HeadObject reported is sent; the in-process
		// server (with the headers it does not keep added) reports all.
		had := [6]*string{before.ContentType, before.ContentEncoding, before.ContentDisposition, before.ContentLanguage, before.CacheControl, before.WebsiteRedirectLocation}
		want := [6]string{"text/x-test", "identity", "attachment", "fr", "max-age=60", "/elsewhere"}
		for i, h := range headers {
			if aws.ToString(h) != aws.ToString(had[i]) || (!e.srv.Real && aws.ToString(h) != want[i]) {
				t.Fatalf("%d bytes: sent header %d %q, the object has %q, want %q", n, i, aws.ToString(h), aws.ToString(had[i]), want[i])
			}
		}
		if before.ExpiresString != nil && (sentExpires == nil || !sentExpires.Equal(expires)) {
			t.Fatalf("%d bytes: sent Expires %v", n, sentExpires)
		}
		if !e.srv.Real && (sse != types.ServerSideEncryptionAwsKms || aws.ToString(kmsKey) != "arn:aws:kms:us-east-1:111122223333:key/sse" || !aws.ToBool(bucketKey) || class != types.StorageClassStandardIa) {
			t.Fatalf("%d bytes: SSE/storage class not carried: %v %v %v %v", n, sse, aws.ToString(kmsKey), aws.ToBool(bucketKey), class)
		}
		if aws.ToString(tagging) != "team=blue&tier=gold" {
			t.Fatalf("%d bytes: tags sent %q", n, aws.ToString(tagging))
		}
		for k := range meta {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-") && !strings.HasPrefix(strings.ToLower(k), "x-amz-3") && !strings.HasPrefix(strings.ToLower(k), "x-amz-c") &&
				!strings.HasPrefix(strings.ToLower(k), "x-amz-d") && !strings.HasPrefix(strings.ToLower(k), "x-amz-i") && !strings.HasPrefix(strings.ToLower(k), "x-amz-w") &&
				!strings.HasPrefix(strings.ToLower(k), "x-amz-m") && !strings.HasPrefix(strings.ToLower(k), "x-amz-t") {
				t.Fatalf("%d bytes: an old envelope entry was sent: %s", n, k)
			}
		}
		// What is stored (all of it on a real server).
		head := e.head(key)
		now := [6]*string{head.ContentType, head.ContentEncoding, head.ContentDisposition, head.ContentLanguage, head.CacheControl, head.WebsiteRedirectLocation}
		for i := range now {
			// Those the server kept on the source, it keeps on the
			// new object (the in-process server: the first three and
			// the redirect).
			if e.srv.Real || i < 3 || i == 5 {
				if aws.ToString(now[i]) != aws.ToString(had[i]) {
					t.Fatalf("%d bytes: stored header %d %q, was %q", n, i, aws.ToString(now[i]), aws.ToString(had[i]))
				}
			}
		}
		if e.srv.Real && aws.ToString(head.ExpiresString) != aws.ToString(before.ExpiresString) {
			t.Fatalf("%d bytes: Expires %q, was %q", n, aws.ToString(head.ExpiresString), aws.ToString(before.ExpiresString))
		}
		if head.Metadata["owner"] != "alice" || head.Metadata["project"] != "x" {
			t.Fatalf("%d bytes: metadata %v", n, head.Metadata)
		}
		for k := range head.Metadata {
			if k == "x-amz-key-v2" || k == "x-amz-iv" || k == "x-amz-matdesc" {
				t.Fatalf("%d bytes: the V2 envelope entry %s is still stored", n, k)
			}
		}
		if e.srv.Real {
			tags, err := e.plain.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &e.bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, tg := range tags.TagSet {
				got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
			if !maps.Equal(got, map[string]string{"team": "blue", "tier": "gold"}) {
				t.Fatalf("%d bytes: tags %v", n, got)
			}
		}
		if !slicesEqual(out.NotKept, []string{"ACL"}) {
			t.Fatalf("NotKept %v", out.NotKept)
		}
	}
}

// An object under Object Lock (retention in the future, or a legal hold)
// is refused with ErrObjectLocked, a permanent failure, and nothing is
// written; a retention that has expired does not lock it.
func TestReEncryptRefusesLockedObject(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	key := "locked"
	if err := e.put(e.client(kr, writeV2), context.Background(), key, []byte("locked")); err != nil {
		t.Fatal(err)
	}
	future, past := time.Now().Add(24*time.Hour), time.Now().Add(-time.Hour)
	for name, lock := range map[string]func(*s3.HeadObjectOutput){
		"compliance": func(o *s3.HeadObjectOutput) {
			o.ObjectLockMode, o.ObjectLockRetainUntilDate = types.ObjectLockModeCompliance, &future
		},
		"governance": func(o *s3.HeadObjectOutput) {
			o.ObjectLockMode, o.ObjectLockRetainUntilDate = types.ObjectLockModeGovernance, &future
		},
		"legal hold": func(o *s3.HeadObjectOutput) { o.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn },
	} {
		h := newRW(e)
		h.onHead = lock
		_, err := e.rwClient(h, kr, allowV2).ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: mustAES(t, nil)})
		mustErrorIs(t, err, encryptionclient.ErrObjectLocked)
		if h.nWrites() != 0 {
			t.Fatalf("%s: %d writes", name, h.nWrites())
		}
		_, err = e.rwClient(h, kr).Adopt(context.Background(), &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: &key})
		mustErrorIs(t, err, encryptionclient.ErrObjectLocked)
	}
	h := newRW(e)
	h.onHead = func(o *s3.HeadObjectOutput) {
		o.ObjectLockMode, o.ObjectLockRetainUntilDate = types.ObjectLockModeGovernance, &past
		o.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOff
	}
	if _, err := e.rwClient(h, kr, allowV2).ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: mustAES(t, nil)}); err != nil {
		t.Fatalf("expired retention: %v", err)
	}
}

// countingKeyring counts the data keys a keyring generates.
type countingKeyring struct {
	materials.Keyring
	mu        sync.Mutex
	generated int
}

func (k *countingKeyring) GenerateDataKey(ctx context.Context, r *materials.EncryptionRequest) (*materials.DataKey, error) {
	k.mu.Lock()
	k.generated++
	k.mu.Unlock()
	return k.Keyring.GenerateDataKey(ctx, r)
}

// A dry run reads and verifies everything and asks the target keyring for
// a data key, as a real run would, but writes nothing; a tampered source
// fails it as it would fail the real run.
func TestReEncryptDryRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	partSize, threshold, size := e.mpSizes()
	for _, n := range []int{10, size} {
		key := "dry"
		kr := e.krs["kms"]
		if err := e.put(e.client(kr, writeV2), context.Background(), key, randBytes(t, n)); err != nil {
			t.Fatal(err)
		}
		before, _, _ := e.raw(key)
		target := &countingKeyring{Keyring: e.krs["aes"]}
		h := newRW(e)
		c := e.rwClient(h, kr, allowV2)
		in := &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target, EncryptionContext: map[string]string{}, DryRun: true, MultipartThreshold: threshold, PartSize: partSize}
		out, err := c.ReEncrypt(e.smallParts(context.Background()), in)
		if err != nil {
			t.Fatal(err)
		}
		if h.nWrites() != 0 || out.ETag != nil || out.Size != int64(n) || out.To != envelope.FormatV3 {
			t.Fatalf("%d bytes: dry run: writes %v, output %+v", n, h.writes, out)
		}
		if target.generated != 1 {
			t.Fatalf("%d bytes: the dry run asked for %d data keys", n, target.generated)
		}
		if after, _, _ := e.raw(key); !bytes.Equal(after, before) {
			t.Fatal("the dry run changed the object")
		}
		e.tamper(key, n/3)
		_, err = c.ReEncrypt(e.smallParts(context.Background()), in)
		mustErrorIs(t, err, encryptionclient.ErrAuthentication)
		if h.nWrites() != 0 {
			t.Fatalf("writes %v", h.writes)
		}
	}
}

// The source's instruction file is deleted only after the new object is
// stored, and the new object (whose whole envelope is in its metadata)
// never uses it: when the delete fails, the new object reads, the stale
// file is still there, and the error says the object was re-encrypted.
func TestReEncryptStaleInstructionFileNeverUsed(t *testing.T) {
	e := newEnv(t)
	old := e.krs["aes"]
	key := "instr"
	pt := randBytes(t, 777)
	if err := e.put(e.client(old, writeV2, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }), context.Background(), key, pt); err != nil {
		t.Fatal(err)
	}
	if !e.exists(key + ".instruction") {
		t.Fatal("no instruction file written")
	}
	h := newRW(e)
	h.failDeleteKeys = map[string]bool{key + ".instruction": true}
	target := mustAES(t, nil)
	out, err := e.rwClient(h, old, allowV2).ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target})
	if err == nil || out == nil || out.ETag == nil || !strings.Contains(err.Error(), "could not be deleted") {
		t.Fatalf("a failed delete: output %+v, error %v", out, err)
	}
	if !e.exists(key + ".instruction") {
		t.Fatal("the instruction file is gone although its delete failed")
	}
	if got := e.strictRead(target, key); !bytes.Equal(got, pt) {
		t.Fatal("the new object does not read while the stale instruction file exists")
	}
	if env := e.storedFormat(key); env.InstructionFileKey != "" || env.Envelope.Format != envelope.FormatV3 {
		t.Fatalf("the new envelope is read from %q (%v)", env.InstructionFileKey, env.Envelope.Format)
	}
	// The stale file is not taken for the object's own by a rerun.
	_, err = e.client(target).ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key})
	mustErrorIs(t, err, encryptionclient.ErrAlreadyCurrent)
}

// A writer that replaces the object and its instruction file right after
// the re-encrypted object was stored keeps its instruction file: the old
// one is deleted only while both are still the ones ReEncrypt wrote and
// read.
func TestReEncryptKeepsANewWritersInstructionFile(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	instrOpts := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
	key := "instr3"
	if err := e.put(e.client(kr, writeV2, instrOpts), context.Background(), key, []byte("old")); err != nil {
		t.Fatal(err)
	}
	h := newRW(e)
	h.afterPut = func(k string) {
		if k == key {
			h.afterPut = nil
			if err := e.put(e.client(kr, instrOpts), context.Background(), key, []byte("theirs")); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := e.rwClient(h, kr, allowV2).ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Force: true}); err != nil {
		t.Fatal(err)
	}
	if len(h.deletes) != 0 {
		t.Fatalf("deleted %v", h.deletes)
	}
	if got, err := e.get(e.client(kr), context.Background(), key); err != nil || string(got) != "theirs" {
		t.Fatalf("the writer's object: %q %v", got, err)
	}
}

// A client that stores envelopes in instruction files rewrites the
// instruction file with the object (the normal write path), and deletes
// nothing.
func TestReEncryptIntoInstructionFile(t *testing.T) {
	e := newEnv(t)
	old := e.krs["aes"]
	key := "instr2"
	pt := randBytes(t, 99)
	if err := e.put(e.client(old, writeV2), context.Background(), key, pt); err != nil {
		t.Fatal(err)
	}
	h := newRW(e)
	target := mustAES(t, nil)
	_, err := e.rwClient(h, old, allowV2, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }).
		ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.deletes) != 0 {
		t.Fatalf("deleted %v", h.deletes)
	}
	if env := e.storedFormat(key); env.InstructionFileKey != key+".instruction" || env.Envelope.Format != envelope.FormatV3 {
		t.Fatalf("stored %v in %q", env.Envelope.Format, env.InstructionFileKey)
	}
	if got := e.strictRead(target, key); !bytes.Equal(got, pt) {
		t.Fatal("plaintext differs")
	}
}

// The encryption context is checked on the read exactly as GetObject
// checks it, and a nil EncryptionContext keeps the stored one.
func TestReEncryptEncryptionContext(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	key := "ctx"
	ec := map[string]string{"tenant": "t1"}
	ctx := encryptionclient.WithEncryptionContext(context.Background(), ec)
	if err := e.put(e.client(kr, writeV2), ctx, key, []byte("with context")); err != nil {
		t.Fatal(err)
	}
	h := newRW(e)
	c := e.rwClient(h, kr, allowV2)
	_, err := c.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key})
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
	_, err = c.ReEncrypt(encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"tenant": "t2"}), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key})
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
	if h.nWrites() != 0 {
		t.Fatalf("writes %v", h.writes)
	}
	if _, err := c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	strict := e.client(kr)
	if _, err := e.get(strict, context.Background(), key); !errors.Is(err, encryptionclient.ErrContextMismatch) {
		t.Fatalf("the stored context was not kept: %v", err)
	}
	if got, err := e.get(strict, ctx, key); err != nil || string(got) != "with context" {
		t.Fatalf("%q %v", got, err)
	}
}

// Bad input is a typed error, never a panic.
func TestReEncryptInvalidInput(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	key := "k"
	e.putRaw(key, []byte("plain"), nil)
	for name, in := range map[string]*encryptionclient.ReEncryptInput{
		"nil":                nil,
		"no bucket":          {Key: &key},
		"no key":             {Bucket: &e.bucket},
		"negative threshold": {Bucket: &e.bucket, Key: &key, MultipartThreshold: -1},
		"negative parts":     {Bucket: &e.bucket, Key: &key, Concurrency: -1},
		"small part":         {Bucket: &e.bucket, Key: &key, PartSize: 100},
		"empty version":      {Bucket: &e.bucket, Key: &key, VersionId: aws.String("")},
	} {
		_, err := c.ReEncrypt(context.Background(), in)
		if !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := c.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key})
	mustErrorIs(t, err, encryptionclient.ErrNotEncrypted)
	_, err = c.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("missing")})
	var oe *encryptionclient.ObjectError
	if err == nil || !errors.As(err, &oe) {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := c.Adopt(context.Background(), nil); !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatal(err)
	}
	if _, err := c.VerifyObject(context.Background(), nil); !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatal(err)
	}
	if _, err := c.VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: &key, Range: aws.String("bytes=0-1")}); !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatal(err)
	}
	if _, err := c.IsInstructionFile(context.Background(), nil); !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatal(err)
	}
}

// IsInstructionFile tells an object's instruction file from an ordinary
// object named like one.
func TestIsInstructionFileHeadInput(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	if err := e.put(e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }), context.Background(), "obj", []byte("x")); err != nil {
		t.Fatal(err)
	}
	e.putRaw("lonely.instruction", []byte("not one"), nil)
	c := e.client(kr)
	for key, want := range map[string]bool{"obj.instruction": true, "obj": false, "lonely.instruction": false, "missing.instruction": false} {
		got, err := c.IsInstructionFile(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", key, got, err, want)
		}
	}
	got, err := c.IsInstructionFile(encryptionclient.WithInstructionFileSuffix(context.Background(), ".other"), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj.instruction")})
	if err != nil || got {
		t.Errorf("another suffix: %v %v", got, err)
	}
}

func legacyOpts(o *encryptionclient.Options) {
	o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
	o.EnableLegacyUnauthenticatedModes = true
}

// Large CBC objects take the multipart path, with the plaintext length
// recorded or not (then known only from the padding at the end); a CBC
// body cut at a block boundary, whose recorded length no longer matches,
// is refused before the upload completes.
func TestReEncryptLegacyCBCMultipart(t *testing.T) {
	e := newEnv(t)
	partSize, threshold, size := e.mpSizes()
	for _, withLength := range []bool{true, false} {
		key := "bigcbc"
		pt := randBytes(t, size)
		kr, ct, meta := putBuiltCBC(t, e, key, pt, withLength)
		h := newRW(e)
		c := e.rwClient(h, kr, legacyOpts)
		target := mustAES(t, nil)
		in := &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target, MultipartThreshold: threshold, PartSize: partSize, AllowUnauthenticatedSource: true}
		out, err := c.ReEncrypt(e.smallParts(context.Background()), in)
		if err != nil {
			t.Fatalf("length recorded %v: %v", withLength, err)
		}
		if !out.Multipart || out.FromSuite != envelope.SuiteAESCBC || out.Size != int64(size) || out.SourceAuthenticated {
			t.Fatalf("output %+v", out)
		}
		if got := e.strictRead(target, key); !bytes.Equal(got, pt) {
			t.Fatal("plaintext differs")
		}
		if !withLength {
			continue
		}
		// The recorded length says more than the cut body holds.
		e.putRaw(key, ct[:len(ct)-32], meta)
		cut, _, _ := e.raw(key)
		h = newRW(e)
		_, err = e.rwClient(h, kr, legacyOpts).ReEncrypt(e.smallParts(context.Background()), in)
		if err == nil {
			t.Fatal("a cut CBC body was re-encrypted")
		}
		if h.writes["CompleteMultipartUpload"] != 0 || h.writes["PutObject"] != 0 {
			t.Fatalf("writes %v", h.writes)
		}
		if got, _, _ := e.raw(key); !bytes.Equal(got, cut) {
			t.Fatal("the source changed")
		}
		if n := e.leftUploads(); n != 0 {
			t.Fatalf("%d multipart uploads left", n)
		}
	}
}

// Connections cut in the middle of a ReEncrypt (toxiproxy): every part
// upload cut until the SDK's retries are exhausted, or the source's body
// cut mid-stream. The ReEncrypt fails, the source is intact and still
// reads with its key, and no multipart upload is left; run again without
// faults, it succeeds.
func TestFaultReEncryptCutMidway(t *testing.T) {
	e := newEnv(t)
	r := newFaultRig(t, e)
	ctx := e.faultCtx(faultCtx(t))
	old := e.krs["aes"]
	pt := randBytes(t, 1<<20+333)
	ps := e.faultPartSize()
	for _, tc := range []struct {
		name  string
		match func(*http.Request) bool
		toxic string
	}{
		{"parts", isUploadPart, cutAfter("upstream", 20<<10)},
		{"source", isGet("/reenc/source"), cutAfter("downstream", 300<<10)},
	} {
		key := "reenc/" + tc.name
		if tc.name == "source" {
			key = "reenc/source"
		}
		if err := e.put(e.client(old, writeV2), context.Background(), key, pt); err != nil {
			t.Fatal(err)
		}
		stored, _, _ := e.raw(key)
		c := r.client(allowV2)
		target := mustAES(t, nil)
		in := &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target, MultipartThreshold: 256 << 10, PartSize: ps, Concurrency: 2}
		r.arm(1000, tc.match, tc.toxic)
		_, err := c.ReEncrypt(ctx, in)
		hits := r.disarm()
		if err == nil {
			t.Fatalf("%s: ReEncrypt succeeded through %d cut connections", tc.name, hits)
		}
		if hits == 0 {
			t.Fatalf("%s: no fault injected", tc.name)
		}
		t.Logf("%s: %d cut connections: %v", tc.name, hits, err)
		if got, _, _ := e.raw(key); !bytes.Equal(got, stored) {
			t.Fatalf("%s: the source changed", tc.name)
		}
		if got, err := e.get(e.client(old, allowV2), context.Background(), key); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: the source no longer reads: %v", tc.name, err)
		}
		if n := e.leftUploads(); n != 0 {
			t.Fatalf("%s: %d multipart uploads left", tc.name, n)
		}
		out, err := c.ReEncrypt(ctx, in)
		if err != nil {
			t.Fatalf("%s: rerun without faults: %v", tc.name, err)
		}
		if !out.Multipart {
			t.Fatalf("%s: not multipart", tc.name)
		}
		if got := e.strictRead(target, key); !bytes.Equal(got, pt) {
			t.Fatalf("%s: plaintext differs", tc.name)
		}
	}
}

// reEncryptCatalogue gives the rows of docs/ERRORS.md for ReEncrypt,
// Adopt and VerifyObject (TestErrorCatalogue).
func reEncryptCatalogue(t *testing.T, e *env) []*catalogueRow {
	t.Helper()
	ctx := context.Background()
	var rows []*catalogueRow
	add := func(input, call, class string, is, err error) {
		rows = append(rows, &catalogueRow{input: input, call: call, class: class, is: is, err: err})
	}
	kr := e.krs["aes"]
	c := e.client(kr)
	b := &e.bucket
	if err := e.put(c, ctx, "re/v3", []byte("catalogue")); err != nil {
		t.Fatal(err)
	}
	if err := e.put(c, ctx, "re/tampered", []byte("catalogue")); err != nil {
		t.Fatal(err)
	}
	e.tamper("re/tampered", 3)
	e.putRaw("re/plain", []byte("catalogue"), nil)

	_, err := c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: b, Key: aws.String("re/v3")})
	add("ReEncrypt of a V3 object under the target key (a rerun)", "ReEncrypt", "ErrAlreadyCurrent", encryptionclient.ErrAlreadyCurrent, err)
	_, err = c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: b, Key: aws.String("re/plain")})
	add("ReEncrypt of an unencrypted object", "ReEncrypt", "ErrNotEncrypted", encryptionclient.ErrNotEncrypted, err)
	_, err = c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: b, Key: aws.String("re/tampered"), Force: true})
	add("ReEncrypt of an altered object", "ReEncrypt", "ErrAuthentication", encryptionclient.ErrAuthentication, err)
	h := newRW(e)
	retain := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	h.onHead = func(o *s3.HeadObjectOutput) {
		o.ObjectLockMode, o.ObjectLockRetainUntilDate = types.ObjectLockModeCompliance, &retain
	}
	_, err = e.rwClient(h, kr).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: b, Key: aws.String("re/v3"), Force: true})
	add("ReEncrypt of an object under Object Lock retention", "ReEncrypt", "ErrObjectLocked", encryptionclient.ErrObjectLocked, err)
	_, err = c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: b, Key: aws.String("re/v3"), VersionId: aws.String("not-the-current-one")})
	add("ReEncrypt of a version that is not the current one", "ReEncrypt", "ErrNotCurrentVersion", encryptionclient.ErrNotCurrentVersion, err)
	if !errors.Is(err, encryptionclient.ErrObjectChanged) {
		t.Errorf("ErrNotCurrentVersion is not an ErrObjectChanged: %v", err)
	}
	_, err = c.ReEncrypt(ctx, nil)
	add("nil ReEncryptInput", "ReEncrypt", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	_, err = c.Adopt(ctx, &encryptionclient.AdoptInput{Bucket: b, Key: aws.String("re/v3")})
	add("Adopt of an encrypted object", "Adopt", "ErrAlreadyEncrypted", encryptionclient.ErrAlreadyEncrypted, err)
	h = newRW(e)
	h.onGet = func(in *s3.GetObjectInput, out *s3.GetObjectOutput) {
		out.Body = &shortBody{r: io.LimitReader(out.Body, 4), c: out.Body}
	}
	_, err = e.rwClient(h, kr).Adopt(ctx, &encryptionclient.AdoptInput{Bucket: b, Key: aws.String("re/plain")})
	add("Adopt of an object whose body ends before its Content-Length", "Adopt", "ErrTruncated", encryptionclient.ErrTruncated, err)
	_, _, cbcKR := cbcObject(t, e, "re/cbc")
	_, err = e.client(cbcKR, legacyOpts).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: b, Key: aws.String("re/cbc"), Keyring: kr})
	add("ReEncrypt of a legacy CBC object without AllowUnauthenticatedSource", "ReEncrypt", "ErrUnauthenticatedSource", encryptionclient.ErrUnauthenticatedSource, err)
	e.putRaw("re/v3.instruction", []byte("a user's file"), nil)
	_, err = e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }).
		ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: b, Key: aws.String("re/v3"), Force: true})
	add("ReEncrypt into instruction-file storage beside an unrelated object named key+suffix", "ReEncrypt", "ErrInstructionFileMismatch", encryptionclient.ErrInstructionFileMismatch, err)
	e.putRaw("re/plain.instruction", []byte("a user's file"), nil)
	_, err = c.Adopt(ctx, &encryptionclient.AdoptInput{Bucket: b, Key: aws.String("re/plain")})
	add("Adopt of an object beside an object named key+suffix that is no envelope", "Adopt", "ErrMalformed", encryptionclient.ErrMalformed, err)
	_, err = c.VerifyObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("re/tampered")})
	add("VerifyObject of an altered object", "VerifyObject", "ErrAuthentication", encryptionclient.ErrAuthentication, err)
	_, err = c.VerifyObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("re/v3"), Range: aws.String("bytes=0-1")})
	add("VerifyObject with a Range", "VerifyObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	return rows
}

// SSE-C objects are read with the caller's customer key and written under
// it: every request of ReEncrypt and Adopt carries it (small and
// multipart paths), over TLS.
func TestReEncryptAndAdoptKeepSSEC(t *testing.T) {
	srv := s3test.NewFakeTLS()
	defer srv.Close()
	e := newEnv(t)
	e.plain = srv.Client()
	e.bucket = srv.CreateBucket(t, e.plain)
	ssecKey := aws.String("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	ssecMD5 := aws.String("jsZ9oKDLHx5VpZcc+8Vu7Q==")
	alg := aws.String("AES256")
	partSize, threshold, size := e.mpSizes()
	kr := e.krs["aes"]
	for _, n := range []int{10, size} {
		pt := randBytes(t, n)
		if _, err := e.client(kr, writeV2).PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &e.bucket, Key: aws.String("ssec"), Body: bytes.NewReader(pt),
			SSECustomerAlgorithm: alg, SSECustomerKey: ssecKey, SSECustomerKeyMD5: ssecMD5,
		}); err != nil {
			t.Fatal(err)
		}
		h := newRW(e)
		var gets []*s3.GetObjectInput
		h.onGet = func(in *s3.GetObjectInput, _ *s3.GetObjectOutput) { gets = append(gets, in) }
		target := mustAES(t, nil)
		ctx := e.smallParts(context.Background())
		if _, err := e.rwClient(h, kr, allowV2).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{
			Bucket: &e.bucket, Key: aws.String("ssec"), Keyring: target, MultipartThreshold: threshold, PartSize: partSize,
			SSECustomerAlgorithm: alg, SSECustomerKey: ssecKey, SSECustomerKeyMD5: ssecMD5,
		}); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		for _, g := range gets {
			if aws.ToString(g.SSECustomerKey) != *ssecKey {
				t.Fatalf("GET of %s without the customer key", aws.ToString(g.Key))
			}
		}
		for _, p := range h.puts {
			if aws.ToString(p.SSECustomerKey) != *ssecKey || p.ServerSideEncryption != "" {
				t.Fatalf("PutObject of %s: SSE-C %q, SSE %q", aws.ToString(p.Key), aws.ToString(p.SSECustomerKey), p.ServerSideEncryption)
			}
		}
		for _, c := range h.creates {
			if aws.ToString(c.SSECustomerKey) != *ssecKey {
				t.Fatal("CreateMultipartUpload without the customer key")
			}
		}
		out, err := e.client(target).GetObject(context.Background(), &s3.GetObjectInput{
			Bucket: &e.bucket, Key: aws.String("ssec"), SSECustomerAlgorithm: alg, SSECustomerKey: ssecKey, SSECustomerKeyMD5: ssecMD5,
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: read back: %v", n, err)
		}

		// Adopt of an SSE-C object that is not client-side encrypted.
		if _, err := e.plain.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &e.bucket, Key: aws.String("ssec-plain"), Body: bytes.NewReader(pt),
			SSECustomerAlgorithm: alg, SSECustomerKey: ssecKey, SSECustomerKeyMD5: ssecMD5,
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rwClient(h, kr).Adopt(ctx, &encryptionclient.AdoptInput{
			Bucket: &e.bucket, Key: aws.String("ssec-plain"), MultipartThreshold: threshold, PartSize: partSize,
			SSECustomerAlgorithm: alg, SSECustomerKey: ssecKey, SSECustomerKeyMD5: ssecMD5,
		}); err != nil {
			t.Fatalf("Adopt %d bytes: %v", n, err)
		}
		out, err = e.client(kr).GetObject(context.Background(), &s3.GetObjectInput{
			Bucket: &e.bucket, Key: aws.String("ssec-plain"), SSECustomerAlgorithm: alg, SSECustomerKey: ssecKey, SSECustomerKeyMD5: ssecMD5,
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Adopt %d bytes: read back: %v", n, err)
		}
	}
}
