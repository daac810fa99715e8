package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

func TestRoundTripEveryKeyringFormatSize(t *testing.T) {
	e := newEnv(t)
	policies := map[string]envelope.CommitmentPolicy{
		"v3": envelope.RequireEncryptRequireDecrypt,
		"v2": envelope.ForbidEncryptAllowDecrypt,
	}
	for krName, kr := range e.krs {
		for pName, policy := range policies {
			c := e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = policy })
			for _, size := range []int{0, 1, 17, 64<<10 + 3, 1<<20 + 5} {
				key := fmt.Sprintf("rt/%s/%s/%d", krName, pName, size)
				data := randBytes(t, size)
				if err := e.put(c, context.Background(), key, data); err != nil {
					t.Fatalf("%s: put: %v", key, err)
				}
				stored, meta, err := e.raw(key)
				if err != nil {
					t.Fatal(err)
				}
				if len(stored) != size+16 || (size >= 16 && bytes.Contains(stored, data[:min(size, 64)])) {
					t.Fatalf("%s: stored %d bytes that look like plaintext", key, len(stored))
				}
				wantKey := map[string]string{"v3": "x-amz-3", "v2": "x-amz-key-v2"}[pName]
				if _, ok := meta[wantKey]; !ok {
					t.Fatalf("%s: stored metadata %v lacks %s", key, meta, wantKey)
				}
				got, err := e.get(c, context.Background(), key)
				if err != nil {
					t.Fatalf("%s: get: %v", key, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%s: plaintext differs", key)
				}
			}
		}
	}
}

// A V2 object is refused by the default policy and read when allowed.
func TestCommitmentPolicyOnRead(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	v2 := e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt })
	if err := e.put(v2, context.Background(), "v2obj", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	_, err := e.get(e.client(kr), context.Background(), "v2obj")
	mustErrorIs(t, err, encryptionclient.ErrPolicy)
	var pe *envelope.PolicyError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "encryptionclient.Options.CommitmentPolicy") {
		t.Fatalf("policy error does not name the option: %v", err)
	}
	allow := e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt })
	if got, err := e.get(allow, context.Background(), "v2obj"); err != nil || string(got) != "hello" {
		t.Fatalf("allow-decrypt: %q %v", got, err)
	}
}

func TestNonSeekableBodies(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	data := randBytes(t, 300<<10)
	// Known length, no Seek: streamed in one pass.
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("stream"), Body: io.MultiReader(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(c, context.Background(), "stream"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stream round trip: %v", err)
	}
	// Unknown length: a clear error, nothing read, nothing stored.
	src := &countingReader{r: bytes.NewReader(data)}
	_, err = c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("unknown"), Body: src})
	mustErrorIs(t, err, encryptionclient.ErrUnknownLength)
	if src.n != 0 || e.exists("unknown") {
		t.Fatalf("read %d bytes / stored an object on error", src.n)
	}
	// Body shorter than ContentLength.
	_, err = c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("short"), Body: io.MultiReader(bytes.NewReader(data[:100])), ContentLength: aws.Int64(200),
	})
	mustErrorIs(t, err, encryptionclient.ErrBodyLength)
	if e.exists("short") {
		t.Fatal("a short body left an object")
	}
	// ContentLength shorter than the body: refused, as the plain SDK
	// refuses it, rather than storing a truncated object.
	_, err = c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("prefix"), Body: bytes.NewReader(data), ContentLength: aws.Int64(1000),
	})
	mustErrorIs(t, err, encryptionclient.ErrBodyLength)
	if e.exists("prefix") {
		t.Fatal("a body longer than ContentLength left a truncated object")
	}
	// A seekable body that starts mid-stream.
	r := bytes.NewReader(data)
	r.Seek(1000, io.SeekStart)
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("mid"), Body: r}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(c, context.Background(), "mid"); err != nil || !bytes.Equal(got, data[1000:]) {
		t.Fatalf("mid-stream body: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// changingBody returns other bytes after it was rewound: signing and
// sending would then encrypt two plaintexts under one key and IV.
type changingBody struct {
	data   []byte
	pos    int
	read   bool // read since the last rewind
	rewind int  // rewinds after reading
}

func (b *changingBody) Read(p []byte) (int, error) {
	if b.pos >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.pos:])
	b.read = true
	if b.rewind > 0 {
		for i := range n {
			p[i] ^= 0xff
		}
	}
	b.pos += n
	return n, nil
}

func (b *changingBody) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		if off == 0 && b.read {
			b.rewind++
			b.read = false
		}
		b.pos = int(off)
	case io.SeekCurrent:
		b.pos += int(off)
	case io.SeekEnd:
		b.pos = len(b.data) + int(off)
	}
	return int64(b.pos), nil
}

func TestBodyChangedOnRewindIsRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	body := &changingBody{data: randBytes(t, 600<<10)}
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("changing"), Body: body})
	mustErrorIs(t, err, encryptionclient.ErrBodyChanged)
	if e.exists("changing") {
		t.Fatal("object stored although the body changed")
	}
}

func TestPutKeepsFieldsAndRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["kms"])
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("fields"), Body: strings.NewReader("x"),
		ContentType: aws.String("text/plain"), CacheControl: aws.String("no-cache"),
		ContentDisposition: aws.String("attachment"), Metadata: map[string]string{"color": "blue"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("fields")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(h.ContentType) != "text/plain" || h.Metadata["color"] != "blue" {
		t.Fatalf("fields lost: %q %v", aws.ToString(h.ContentType), h.Metadata)
	}
	if e.srv.Real && (aws.ToString(h.CacheControl) != "no-cache" || aws.ToString(h.ContentDisposition) != "attachment") {
		t.Fatalf("fields lost: %q %q", aws.ToString(h.CacheControl), aws.ToString(h.ContentDisposition))
	}
	bad := []*s3.PutObjectInput{
		{Bucket: &e.bucket, Key: aws.String("r"), Body: strings.NewReader("x"), Metadata: map[string]string{"X-Amz-Key-V2": "evil"}},
		{Bucket: &e.bucket, Key: aws.String("r"), Body: strings.NewReader("x"), Metadata: map[string]string{"x-amz-c": "115"}},
		{Bucket: &e.bucket, Key: aws.String("r"), Body: strings.NewReader("x"), ContentMD5: aws.String("XrY7u+Ae7tCTyyK7j1rNww==")},
		{Bucket: &e.bucket, Key: aws.String("r"), Body: strings.NewReader("x"), ChecksumSHA256: aws.String("abc")},
		{Bucket: &e.bucket, Key: nil, Body: strings.NewReader("x")},
		{Bucket: &e.bucket, Key: aws.String("r"), Body: nil, ContentLength: aws.Int64(5)},
		{Bucket: &e.bucket, Key: aws.String("r"), Body: strings.NewReader("x"), ContentLength: aws.Int64(-2)},
		{Bucket: &e.bucket, Key: aws.String("r"), Body: strings.NewReader("x"), SSECustomerAlgorithm: aws.String("AES256"),
			SSECustomerKey: aws.String("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), SSECustomerKeyMD5: aws.String("x")},
	}
	before := e.kms.Calls("GenerateDataKey")
	for i, in := range bad {
		_, err := c.PutObject(context.Background(), in)
		mustErrorIs(t, err, encryptionclient.ErrInvalidInput)
		if e.exists("r") {
			t.Fatalf("case %d stored an object", i)
		}
	}
	if n := e.kms.Calls("GenerateDataKey") - before; n != 0 {
		t.Fatalf("bad inputs made %d KMS calls", n)
	}
	if _, err := c.PutObject(context.Background(), nil); !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatalf("nil input: %v", err)
	}
	// A nil body is an empty object.
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(c, context.Background(), "empty"); err != nil || len(got) != 0 {
		t.Fatalf("empty: %q %v", got, err)
	}
}

func TestEncryptionContext(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["kms"])
	ec := map[string]string{"tenant": "acme", "dépt": "финансы"}
	ctx := encryptionclient.WithEncryptionContext(context.Background(), ec)
	if err := e.put(c, ctx, "ctx", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(c, ctx, "ctx"); err != nil || string(got) != "secret" {
		t.Fatalf("same context: %q %v", got, err)
	}
	_, err := e.get(c, context.Background(), "ctx")
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
	_, err = e.get(c, encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"tenant": "evil", "dépt": "финансы"}), "ctx")
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
	// The reserved key cannot be set by the caller.
	bad := encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"aws:x-amz-cek-alg": "AES/GCM/NoPadding"})
	if err := e.put(c, bad, "reserved", []byte("x")); !errors.Is(err, materials.ErrReservedContextKey) {
		t.Fatalf("reserved context key: %v", err)
	}
	// Local keyrings cannot bind a context and say so.
	if err := e.put(e.client(e.krs["aes"]), ctx, "aesctx", []byte("x")); !errors.Is(err, materials.ErrContextNotSupported) {
		t.Fatalf("AES keyring with context: %v", err)
	}
}

func TestWrongKeyringAndTampering(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	c := e.client(kr)
	data := randBytes(t, 100<<10)
	if err := e.put(c, context.Background(), "obj", data); err != nil {
		t.Fatal(err)
	}
	other, _ := materials.NewAESKeyring(randBytes(t, 32), func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"purpose": "test"}
	})
	_, err := e.get(e.client(other), context.Background(), "obj")
	mustErrorIs(t, err, encryptionclient.ErrUnwrap)
	_, err = e.get(e.client(e.krs["kms"]), context.Background(), "obj")
	mustErrorIs(t, err, materials.ErrNotMine)

	stored, meta, err := e.raw("obj")
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int{0, len(stored) / 2, len(stored) - 1} {
		bad := bytes.Clone(stored)
		bad[pos] ^= 1
		e.putRaw("tampered", bad, meta)
		for _, delayed := range []bool{false, true} {
			cc := e.client(kr, func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = delayed })
			got, err := e.get(cc, context.Background(), "tampered")
			mustErrorIs(t, err, encryptionclient.ErrAuthentication)
			if !delayed && got != nil {
				t.Fatal("released plaintext of a tampered object")
			}
		}
	}
	for _, cut := range []int{1, 16, len(stored)} {
		e.putRaw("truncated", stored[:len(stored)-cut], meta)
		_, err := e.get(c, context.Background(), "truncated")
		mustErrorIs(t, err, encryptionclient.ErrAuthentication)
	}
	// Missing metadata. The material description (x-amz-m) is not
	// authenticated: it only selects a key, so a single-key keyring still
	// decrypts without it.
	for k := range meta {
		if k == "x-amz-m" {
			continue
		}
		m := make(map[string]string)
		for k2, v := range meta {
			if k2 != k {
				m[k2] = v
			}
		}
		e.putRaw("nometa-"+k, stored, m)
		_, err := e.get(c, context.Background(), "nometa-"+k)
		if err == nil {
			t.Fatalf("decrypted without %s", k)
		}
		if !errors.Is(err, encryptionclient.ErrMalformed) {
			t.Fatalf("without %s: %v", k, err)
		}
	}
	e.putRaw("plain", []byte("hello"), nil)
	_, err = e.get(c, context.Background(), "plain")
	mustErrorIs(t, err, encryptionclient.ErrNotEncrypted)
	var oe *encryptionclient.ObjectError
	if !errors.As(err, &oe) || oe.Op != "GetObject" || !strings.Contains(err.Error(), "s3://"+e.bucket+"/plain") {
		t.Fatalf("error does not name the object: %v", err)
	}
}

func TestDelayedAuthenticationAndBufferLimit(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := randBytes(t, 3<<20)
	if err := e.put(e.client(kr), context.Background(), "big", data); err != nil {
		t.Fatal(err)
	}
	small := e.client(kr, func(o *encryptionclient.Options) { o.BufferSize = 1 << 20 })
	_, err := e.get(small, context.Background(), "big")
	mustErrorIs(t, err, encryptionclient.ErrTooLarge)
	if !strings.Contains(err.Error(), "EnableDelayedAuthentication") {
		t.Fatalf("error does not point to streaming: %v", err)
	}
	// A buffer limit with delayed authentication would apply to nothing:
	// New refuses the pair (S3EC specification, client: Set Buffer Size).
	if _, err := encryptionclient.New(e.plain, kr, func(o *encryptionclient.Options) {
		o.BufferSize = 1 << 20
		o.EnableDelayedAuthentication = true
	}); !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatalf("New with BufferSize and EnableDelayedAuthentication: %v, want ErrInvalidInput", err)
	}
	delayed := e.client(kr, func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true })
	if got, err := e.get(delayed, context.Background(), "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("delayed: %v", err)
	}
	// A limit past anything GCM allows is clamped, never overflowed.
	huge := e.client(kr, func(o *encryptionclient.Options) { o.BufferSize = math.MaxInt64 })
	if got, err := e.get(huge, context.Background(), "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("BufferSize MaxInt64: %v", err)
	}
}

func TestRanges(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	data := randBytes(t, 100_000)
	if err := e.put(e.client(kr), context.Background(), "r", data); err != nil {
		t.Fatal(err)
	}
	_, err := e.client(kr).GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("r"), Range: aws.String("bytes=0-9")})
	mustErrorIs(t, err, encryptionclient.ErrPolicy)
	c := e.client(kr, func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	n := int64(len(data))
	cases := []struct {
		h           string
		first, last int64
	}{
		{"bytes=0-0", 0, 0}, {"bytes=0-15", 0, 15}, {"bytes=15-16", 15, 16}, {"bytes=17-50000", 17, 50000},
		{"bytes=99990-", 99990, n - 1}, {"bytes=-7", n - 7, n - 1}, {"bytes=99000-200000", 99000, n - 1},
	}
	for _, tc := range cases {
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("r"), Range: aws.String(tc.h)})
		if err != nil {
			t.Fatalf("%s: %v", tc.h, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, data[tc.first:tc.last+1]) {
			t.Fatalf("%s: got %d bytes, %v", tc.h, len(got), err)
		}
		if aws.ToInt64(out.ContentLength) != tc.last-tc.first+1 || aws.ToString(out.ContentRange) != fmt.Sprintf("bytes %d-%d/%d", tc.first, tc.last, n) {
			t.Fatalf("%s: ContentLength %d ContentRange %s", tc.h, aws.ToInt64(out.ContentLength), aws.ToString(out.ContentRange))
		}
	}
	for _, h := range []string{"bytes=100000-", "bytes=5-2", "bytes=-0", "lines=1-2"} {
		_, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("r"), Range: aws.String(h)})
		var re *envelope.RangeError
		if !errors.As(err, &re) {
			t.Fatalf("%s: %v", h, err)
		}
	}
}

func TestInstructionFiles(t *testing.T) {
	e := newEnv(t)
	for name, kr := range e.krs {
		for _, policy := range []envelope.CommitmentPolicy{envelope.RequireEncryptRequireDecrypt, envelope.ForbidEncryptAllowDecrypt} {
			c := e.client(kr, func(o *encryptionclient.Options) {
				o.EnvelopeStorage = encryptionclient.StoreInstructionFile
				o.CommitmentPolicy = policy
			})
			key := fmt.Sprintf("if-%s-%d", name, policy)
			data := randBytes(t, 5000)
			if err := e.put(c, context.Background(), key, data); err != nil {
				t.Fatal(err)
			}
			_, meta, _ := e.raw(key)
			if _, ok := meta["x-amz-3"]; ok {
				t.Fatal("wrapped key on the object")
			}
			if _, ok := meta["x-amz-key-v2"]; ok {
				t.Fatal("wrapped key on the object")
			}
			if !e.exists(key + ".instruction") {
				t.Fatal("no instruction file")
			}
			// A reader with default options reads it.
			reader := e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt })
			if got, err := e.get(reader, context.Background(), key); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %v", key, err)
			}
			h, err := reader.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
			if err != nil || aws.ToInt64(h.ContentLength) != 5000 {
				t.Fatalf("head: %v %v", h, err)
			}
			if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(key)}); err != nil {
				t.Fatal(err)
			}
			if e.exists(key) || e.exists(key+".instruction") {
				t.Fatal("delete left the object or its instruction file")
			}
		}
	}
}

func TestInstructionFileSuffixAndDeleteObjects(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	ctx := encryptionclient.WithInstructionFileSuffix(context.Background(), ".envelope")
	var ids []types.ObjectIdentifier
	for i := range 3 {
		key := fmt.Sprintf("d%d", i)
		if err := e.put(c, ctx, key, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if !e.exists(key + ".envelope") {
			t.Fatal("custom suffix not used")
		}
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(key)})
	}
	// With the default suffix the V3 content keys on the object have no
	// instruction file: a malformed object, not an unencrypted one.
	if _, err := e.get(c, context.Background(), "d0"); !errors.Is(err, encryptionclient.ErrMalformed) {
		t.Fatalf("default suffix: %v", err)
	}
	if got, err := e.get(c, ctx, "d0"); err != nil || string(got) != "x" {
		t.Fatal(err)
	}
	if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: ids}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if e.exists(fmt.Sprintf("d%d", i)) || e.exists(fmt.Sprintf("d%d.envelope", i)) {
			t.Fatal("DeleteObjects left objects behind")
		}
	}
}

// An envelope too large for S3's metadata limit goes to an instruction
// file, or fails when metadata is required.
func TestLargeEnvelope(t *testing.T) {
	e := newEnv(t)
	ec := map[string]string{"big": strings.Repeat("a", 1900)}
	ctx := encryptionclient.WithEncryptionContext(context.Background(), ec)
	if err := e.put(e.client(e.krs["kms"]), ctx, "auto", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if !e.exists("auto.instruction") {
		t.Fatal("large envelope not moved to an instruction file")
	}
	if got, err := e.get(e.client(e.krs["kms"]), ctx, "auto"); err != nil || string(got) != "x" {
		t.Fatal(err)
	}
	strict := e.client(e.krs["kms"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreMetadata })
	mustErrorIs(t, e.put(strict, ctx, "strict", []byte("x")), encryptionclient.ErrMetadataTooLarge)
	if e.exists("strict") {
		t.Fatal("stored an object")
	}
}

func TestCopyObject(t *testing.T) {
	e := newEnv(t)
	for _, storage := range []encryptionclient.EnvelopeStorage{encryptionclient.StoreMetadata, encryptionclient.StoreInstructionFile} {
		c := e.client(e.krs["kms"], func(o *encryptionclient.Options) { o.EnvelopeStorage = storage })
		ctx := encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"k": "v"})
		src := fmt.Sprintf("src dir/é %d", storage)
		data := randBytes(t, 10_000)
		if err := e.put(c, ctx, src, data); err != nil {
			t.Fatal(err)
		}
		for _, directive := range []types.MetadataDirective{types.MetadataDirectiveCopy, types.MetadataDirectiveReplace} {
			dst := fmt.Sprintf("copy-%d-%s", storage, directive)
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{
				Bucket: &e.bucket, Key: aws.String(dst), CopySource: aws.String(e.bucket + "/" + escape(src)),
				MetadataDirective: directive, Metadata: map[string]string{"new": "meta"},
			})
			if err != nil {
				t.Fatalf("%v: %v", directive, err)
			}
			if got, err := e.get(c, ctx, dst); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %v", dst, err)
			}
		}
	}
	e.putRaw("plainsrc", []byte("x"), nil)
	_, err := e.client(e.krs["kms"]).CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("c"), CopySource: aws.String(e.bucket + "/plainsrc")})
	mustErrorIs(t, err, encryptionclient.ErrNotEncrypted)
	_, err = e.client(e.krs["kms"]).CopyObject(context.Background(), &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("c"), CopySource: aws.String(e.bucket + "/x"), Metadata: map[string]string{"x-amz-iv": "x"}})
	mustErrorIs(t, err, encryptionclient.ErrInvalidInput)
}

func escape(k string) string {
	var b strings.Builder
	for _, c := range []byte(k) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func TestHeadObjectPlaintextLength(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["kms"])
	if err := e.put(c, context.Background(), "h", make([]byte, 12345)); err != nil {
		t.Fatal(err)
	}
	h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("h")})
	if err != nil || aws.ToInt64(h.ContentLength) != 12345 {
		t.Fatalf("%v %v", h, err)
	}
	e.putRaw("plain", []byte("x"), nil)
	_, err = c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("plain")})
	mustErrorIs(t, err, encryptionclient.ErrNotEncrypted)
}

func TestCancelledContext(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["kms"])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.put(c, ctx, "cancelled", []byte("x"))
	mustErrorIs(t, err, context.Canceled)
	if e.exists("cancelled") {
		t.Fatal("stored an object with a cancelled context")
	}
	if err := e.put(c, context.Background(), "ok", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err = e.get(c, ctx, "ok")
	mustErrorIs(t, err, context.Canceled)
}

func TestNewValidatesOptions(t *testing.T) {
	e := newEnv(t)
	bad := []func(*encryptionclient.Options){
		func(o *encryptionclient.Options) { o.EnableLegacyUnauthenticatedModes = true },
		func(o *encryptionclient.Options) { o.CommitmentPolicy = 9 },
		func(o *encryptionclient.Options) { o.BufferSize = -1 },
		func(o *encryptionclient.Options) { o.EnvelopeStorage = 7 },
	}
	for i, fn := range bad {
		if _, err := encryptionclient.New(e.plain, e.krs["aes"], fn); err == nil {
			t.Errorf("case %d: invalid options accepted", i)
		}
	}
	if _, err := encryptionclient.New(nil, e.krs["aes"]); err == nil {
		t.Error("nil S3 client accepted")
	}
	if _, err := encryptionclient.New(e.plain, nil); err == nil {
		t.Error("nil keyring accepted")
	}
	c := e.client(e.krs["aes"])
	if o := c.Options(); o.BufferSize != encryptionclient.DefaultBufferSize || o.InstructionFileSuffix != ".instruction" {
		t.Errorf("defaults: %+v", o)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["kms"])
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("conc/%d", i)
			data := randBytes(t, 1000+i*997)
			if err := e.put(c, context.Background(), key, data); err != nil {
				errs <- err
				return
			}
			got, err := e.get(c, context.Background(), key)
			if err == nil && !bytes.Equal(got, data) {
				err = fmt.Errorf("%s: plaintext differs", key)
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
