package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
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
)

// ReEncrypt reads its source with one GetObject and checks its headers,
// its envelope, its key and whether it is current while the body is open
// and unread. These tests play the S3 server (lying headers and bodies)
// and concurrent writers against that one GET.

// spyBody counts what is read of a GET body and whether it was closed.
type spyBody struct {
	rc     io.ReadCloser
	mu     sync.Mutex
	read   int64
	closed bool
}

func (b *spyBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.read += int64(n)
	b.mu.Unlock()
	return n, err
}

func (b *spyBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.rc.Close()
}

func (b *spyBody) state() (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read, b.closed
}

// goroutineMark is the highest goroutine id at the moment: goroutine ids
// only grow, so a goroutine started later has a higher one.
func goroutineMark() int64 {
	var most int64
	for _, g := range goroutines() {
		most = max(most, g.id)
	}
	return most
}

type goroutineDump struct {
	id    int64
	stack string
}

func goroutines() []goroutineDump {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutineDump
	for _, g := range strings.Split(string(buf), "\n\n") {
		var id int64
		if _, err := fmt.Sscanf(g, "goroutine %d ", &id); err == nil {
			out = append(out, goroutineDump{id, g})
		}
	}
	return out
}

// noClientGoroutines fails when a goroutine of the encryption client (a
// read-ahead, an upload worker) started after mark outlives the call that
// started it. Every one of them is waited for before the call returns, but
// a goroutine whose last deferred call (its WaitGroup's Done) has run may
// still be listed for a moment while it exits (its stack then shows only
// runtime.goexit and who created it), so one that is gone within a grace
// period is not a leak; one that is still there after it is. (Goroutines
// of earlier tests, which may leave a body unclosed on purpose, started
// before mark and are not counted.)
func noClientGoroutines(t *testing.T, mark int64, what string) {
	t.Helper()
	left := func() (string, bool) {
		for _, g := range goroutines() {
			if g.id > mark && (strings.Contains(g.stack, "s3ec-go/encryptionclient.") || strings.Contains(g.stack, "s3ec-go/internal/objectcrypto.")) {
				return g.stack, true
			}
		}
		return "", false
	}
	deadline := time.Now().Add(2 * time.Second)
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 50*time.Millisecond) {
		stack, ok := left()
		if !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: a goroutine of the client is left:\n%s", what, stack)
		}
		time.Sleep(wait)
	}
}

// Every check of the one GET's answer (the version named, an ETag, a size,
// the whole object, no lock), of its envelope (a CBC source without the
// opt-in) and of the object's state (already current) refuses before a
// byte of the body is read: the body is closed unread, nothing is written
// and no goroutine is left.
func TestAttackReEncryptRefusesBeforeReadingBody(t *testing.T) {
	mark := goroutineMark()
	e := newEnv(t)
	old, target := e.krs["aes"], mustAES(t, nil)
	_, threshold, size := e.mpSizes()
	if err := e.put(e.client(old, writeV2), context.Background(), "v2", randBytes(t, size)); err != nil {
		t.Fatal(err)
	}
	if err := e.put(e.client(target), context.Background(), "v3", randBytes(t, size)); err != nil {
		t.Fatal(err)
	}
	cbc := putCBCVectors(t, e, false)[0]
	legacy := func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
		o.EnableLegacyUnauthenticatedModes = true
	}
	future := time.Now().Add(time.Hour)
	cases := []struct {
		name    string
		key     string
		in      func(*encryptionclient.ReEncryptInput)
		edit    func(*s3.GetObjectOutput)
		wantErr error
	}{
		{name: "no ETag", key: "v2", edit: func(o *s3.GetObjectOutput) { o.ETag = nil }, wantErr: encryptionclient.ErrBadResponse},
		{name: "empty ETag", key: "v2", edit: func(o *s3.GetObjectOutput) { o.ETag = aws.String("") }, wantErr: encryptionclient.ErrBadResponse},
		{name: "no Content-Length", key: "v2", edit: func(o *s3.GetObjectOutput) { o.ContentLength = nil }, wantErr: encryptionclient.ErrBadResponse},
		{name: "negative Content-Length", key: "v2", edit: func(o *s3.GetObjectOutput) { o.ContentLength = aws.Int64(-1) }, wantErr: encryptionclient.ErrBadResponse},
		{name: "a range not asked for", key: "v2", edit: func(o *s3.GetObjectOutput) {
			o.ContentRange = aws.String("bytes 0-99/" + itoa(aws.ToInt64(o.ContentLength)))
		}, wantErr: encryptionclient.ErrBadResponse},
		{name: "legal hold", key: "v2", edit: func(o *s3.GetObjectOutput) { o.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn }, wantErr: encryptionclient.ErrObjectLocked},
		{name: "retention", key: "v2", edit: func(o *s3.GetObjectOutput) {
			o.ObjectLockMode, o.ObjectLockRetainUntilDate = types.ObjectLockModeGovernance, &future
		}, wantErr: encryptionclient.ErrObjectLocked},
		{name: "another version", key: "v2", in: func(in *encryptionclient.ReEncryptInput) { in.VersionId = aws.String("v-older") }, wantErr: encryptionclient.ErrNotCurrentVersion},
		{name: "a version id where the bucket has none", key: "v2", edit: func(o *s3.GetObjectOutput) { o.VersionId = aws.String("v-other") },
			in: func(in *encryptionclient.ReEncryptInput) { in.VersionId = aws.String("null") }, wantErr: encryptionclient.ErrNotCurrentVersion},
		{name: "another ETag than IfMatch", key: "v2", edit: func(o *s3.GetObjectOutput) { o.ETag = aws.String(`"other"`) },
			in: func(in *encryptionclient.ReEncryptInput) { in.IfMatch = aws.String(aws.ToString(e.head("v2").ETag)) }, wantErr: encryptionclient.ErrObjectChanged},
		{name: "envelope removed", key: "v2", edit: func(o *s3.GetObjectOutput) { o.Metadata = nil }, wantErr: encryptionclient.ErrNotEncrypted},
		{name: "already current", key: "v3", wantErr: encryptionclient.ErrAlreadyCurrent},
		{name: "CBC without the opt-in", key: cbc.key, wantErr: encryptionclient.ErrUnauthenticatedSource},
	}
	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			h := newRW(e)
			var spy *spyBody
			h.onGet = func(in *s3.GetObjectInput, out *s3.GetObjectOutput) {
				if aws.ToString(in.Key) != cc.key {
					return // an instruction file
				}
				if cc.edit != nil {
					cc.edit(out)
				}
				spy = &spyBody{rc: out.Body}
				out.Body = spy
			}
			var c *encryptionclient.Client
			switch {
			case cc.key == "v3":
				c = e.rwClient(h, target)
			case cc.key == cbc.key:
				c = e.rwClient(h, cbc.kr, legacy)
			default:
				c = e.rwClient(h, old, allowV2)
			}
			in := &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(cc.key), Keyring: target, MultipartThreshold: threshold}
			if cc.in != nil {
				cc.in(in)
			}
			_, err := c.ReEncrypt(e.smallParts(context.Background()), in)
			mustErrorIs(t, err, cc.wantErr)
			if spy == nil {
				t.Fatal("no GetObject of the source")
			}
			if read, closed := spy.state(); read != 0 || !closed {
				t.Fatalf("the body: %d bytes read, closed %v; want 0 bytes and closed", read, closed)
			}
			if n := h.nWrites(); n != 0 {
				t.Fatalf("%d writes", n)
			}
			noClientGoroutines(t, mark, cc.name)
		})
	}
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// shortGetBody serves the first n bytes of the real body, then ends (io.EOF).
type shortGetBody struct {
	rc io.ReadCloser
	n  int64
}

func (b *shortGetBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.rc.Read(p)
	b.n -= int64(k)
	return k, err
}

func (b *shortGetBody) Close() error { return b.rc.Close() }

// A GET whose body is shorter or longer than its Content-Length, in the
// in-memory and the multipart path and in a dry run: ErrTruncated or
// ErrTooLarge, the object unchanged, no PutObject and no completed or
// open multipart upload, no goroutine left.
func TestAttackReEncryptBodyNotAsAnnounced(t *testing.T) {
	mark := goroutineMark()
	e := newEnv(t)
	old, target := e.krs["aes"], mustAES(t, nil)
	partSize, threshold, size := e.mpSizes()
	for _, n := range []int{1000, size} {
		key := "announced-" + itoa(int64(n))
		if err := e.put(e.client(old, writeV2), context.Background(), key, randBytes(t, n)); err != nil {
			t.Fatal(err)
		}
		stored, meta, err := e.raw(key)
		if err != nil {
			t.Fatal(err)
		}
		bodies := map[string]struct {
			body func(io.ReadCloser) io.ReadCloser
			want error
		}{
			"short": {func(rc io.ReadCloser) io.ReadCloser { return &shortGetBody{rc: rc, n: int64(len(stored)) - 17} }, encryptionclient.ErrTruncated},
			"long": {func(rc io.ReadCloser) io.ReadCloser {
				return io.NopCloser(io.MultiReader(rc, bytes.NewReader(make([]byte, 32))))
			}, encryptionclient.ErrTooLarge},
		}
		for name, b := range bodies {
			for _, dry := range []bool{false, true} {
				h := newRW(e)
				h.onGet = func(in *s3.GetObjectInput, out *s3.GetObjectOutput) {
					if aws.ToString(in.Key) == key {
						out.Body = b.body(out.Body)
					}
				}
				_, err := e.rwClient(h, old, allowV2).ReEncrypt(e.smallParts(context.Background()), &encryptionclient.ReEncryptInput{
					Bucket: &e.bucket, Key: &key, Keyring: target, MultipartThreshold: threshold, PartSize: partSize, DryRun: dry,
				})
				mustErrorIs(t, err, b.want)
				if len(h.puts) != 0 || len(h.completes) != 0 {
					t.Fatalf("%d bytes, %s body: %d PutObject, %d CompleteMultipartUpload", n, name, len(h.puts), len(h.completes))
				}
				if m := e.leftUploads(); m != 0 {
					t.Fatalf("%d bytes, %s body: %d multipart uploads left", n, name, m)
				}
				e.unchanged(key, stored, meta)
				noClientGoroutines(t, mark, name)
			}
		}
	}
}

// ifMatchS3 makes CompleteMultipartUpload honour If-Match as S3 does
// (gofakes3 ignores it there): a completion whose condition names another
// ETag than the current object's is refused with 412 PreconditionFailed.
type ifMatchS3 struct{ *rwS3 }

func (h ifMatchS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if in.IfMatch != nil {
		h.write("CompleteMultipartUpload")
		h.mu.Lock()
		h.completes = append(h.completes, in)
		h.mu.Unlock()
		if h.beforeWrite != nil {
			h.beforeWrite(aws.ToString(in.Key))
		}
		cur, err := h.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key})
		if err != nil || aws.ToString(cur.ETag) != aws.ToString(in.IfMatch) {
			return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "At least one of the pre-conditions you specified did not hold"}
		}
		return h.Client.CompleteMultipartUpload(ctx, in, optFns...)
	}
	return h.rwS3.CompleteMultipartUpload(ctx, in, optFns...)
}

// A writer replaces the object while ReEncrypt holds the one GET's body:
// right after the GET (before the envelope, the key, the tags), or just
// before the write. The write, conditional on the GET's ETag, is refused
// (ErrObjectChanged), the writer's object stays, and no multipart upload
// is left: in both paths.
func TestAttackReEncryptWriterAfterTheGet(t *testing.T) {
	mark := goroutineMark()
	e := newEnv(t)
	old, target := e.krs["aes"], mustAES(t, nil)
	partSize, threshold, size := e.mpSizes()
	theirs := []byte("the concurrent writer's object")
	for _, n := range []int{100, size} {
		for _, when := range []string{"after the GET", "before the write"} {
			key := "raced-" + itoa(int64(n))
			if err := e.put(e.client(old, writeV2), context.Background(), key, randBytes(t, n)); err != nil {
				t.Fatal(err)
			}
			h := ifMatchS3{newRW(e)}
			var once sync.Once
			replace := func() { once.Do(func() { e.putRaw(key, theirs, map[string]string{"writer": "them"}) }) }
			if when == "after the GET" {
				h.onGet = func(in *s3.GetObjectInput, _ *s3.GetObjectOutput) {
					if aws.ToString(in.Key) == key {
						replace()
					}
				}
			} else {
				h.beforeWrite = func(k string) {
					if k == key {
						replace()
					}
				}
			}
			c, err := encryptionclient.New(h, old, allowV2)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ReEncrypt(e.smallParts(context.Background()), &encryptionclient.ReEncryptInput{
				Bucket: &e.bucket, Key: &key, Keyring: target, MultipartThreshold: threshold, PartSize: partSize,
			})
			// A real server may instead cut the body it was streaming when
			// the object is replaced under it (MinIO does): ErrTruncated,
			// as safe (nothing written). The in-process server keeps
			// streaming the old object, and the write is refused.
			if !(e.srv.Real && when == "after the GET" && errors.Is(err, encryptionclient.ErrTruncated)) {
				mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
			}
			got, meta, err := e.raw(key)
			if err != nil || !bytes.Equal(got, theirs) || meta["writer"] != "them" {
				t.Fatalf("%d bytes, writer %s: the writer's object was lost: %q %v %v", n, when, got, meta, err)
			}
			if m := e.leftUploads(); m != 0 {
				t.Fatalf("%d bytes, writer %s: %d multipart uploads left", n, when, m)
			}
			noClientGoroutines(t, mark, when)
		}
	}
}

// A writer replaces the object and its instruction file after ReEncrypt's
// GET and before it reads the instruction file: the new instruction file
// does not belong to the body being read (another binding), so ReEncrypt
// fails, writes nothing, and the writer's object and instruction file
// stay and read back.
func TestAttackReEncryptInstructionFileWriterAfterTheGet(t *testing.T) {
	mark := goroutineMark()
	e := newEnv(t)
	old, target := e.krs["aes"], mustAES(t, nil)
	instrOpts := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
	_, threshold, size := e.mpSizes()
	for _, n := range []int{100, size} {
		key := "instr-raced-" + itoa(int64(n))
		if err := e.put(e.client(old, writeV2, instrOpts), context.Background(), key, randBytes(t, n)); err != nil {
			t.Fatal(err)
		}
		theirs := randBytes(t, n)
		h := newRW(e)
		var once sync.Once
		h.onGet = func(in *s3.GetObjectInput, _ *s3.GetObjectOutput) {
			if aws.ToString(in.Key) == key {
				once.Do(func() {
					if err := e.put(e.client(old, instrOpts), context.Background(), key, theirs); err != nil {
						t.Error(err)
					}
				})
			}
		}
		_, err := e.rwClient(h, old, allowV2).ReEncrypt(e.smallParts(context.Background()), &encryptionclient.ReEncryptInput{
			Bucket: &e.bucket, Key: &key, Keyring: target, MultipartThreshold: threshold, Force: true,
		})
		if err == nil {
			t.Fatalf("%d bytes: ReEncrypt succeeded over a replaced object and instruction file", n)
		}
		if !errors.Is(err, encryptionclient.ErrInstructionFileMismatch) && !errors.Is(err, encryptionclient.ErrObjectChanged) && !errors.Is(err, encryptionclient.ErrAuthentication) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if w := h.nWrites(); w != 0 {
			t.Fatalf("%d bytes: %d writes", n, w)
		}
		if got, err := e.get(e.client(old), context.Background(), key); err != nil || !bytes.Equal(got, theirs) {
			t.Fatalf("%d bytes: the writer's object does not read back: %v", n, err)
		}
		noClientGoroutines(t, mark, key)
	}
}

// The version the one GET reports decides what VersionId may name: none
// (an unversioned bucket) and "null" (a null version) are the same
// version, "null" written out or not; any other pair is refused before
// the body is read, with nothing written.
func TestAttackReEncryptNullVersion(t *testing.T) {
	e := newEnv(t)
	old, target := e.krs["aes"], mustAES(t, nil)
	cases := []struct {
		reported, named *string
		ok              bool
	}{
		{nil, aws.String("null"), true},
		{aws.String("null"), aws.String("null"), true},
		{aws.String("null"), nil, true},
		{aws.String("v-real"), aws.String("null"), false},
		{aws.String("null"), aws.String("v-real"), false},
		{nil, aws.String("v-real"), false},
	}
	for i, cc := range cases {
		key := "nv-" + itoa(int64(i))
		pt := randBytes(t, 500)
		if err := e.put(e.client(old, writeV2), context.Background(), key, pt); err != nil {
			t.Fatal(err)
		}
		h := newRW(e)
		var spy *spyBody
		h.onGet = func(in *s3.GetObjectInput, out *s3.GetObjectOutput) {
			out.VersionId = cc.reported
			spy = &spyBody{rc: out.Body}
			out.Body = spy
		}
		_, err := e.rwClient(h, old, allowV2).ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{
			Bucket: &e.bucket, Key: &key, Keyring: target, VersionId: cc.named,
		})
		if cc.ok {
			if err != nil {
				t.Fatalf("reported %v, named %v: %v", aws.ToString(cc.reported), aws.ToString(cc.named), err)
			}
			if got := e.strictRead(target, key); !bytes.Equal(got, pt) {
				t.Fatal("the rewritten object reads otherwise")
			}
			continue
		}
		mustErrorIs(t, err, encryptionclient.ErrNotCurrentVersion)
		if read, closed := spy.state(); read != 0 || !closed || h.nWrites() != 0 {
			t.Fatalf("reported %v, named %v: read %d, closed %v, %d writes", aws.ToString(cc.reported), aws.ToString(cc.named), read, closed, h.nWrites())
		}
	}
}

// Upload at every concurrency from 1 to 16 (part buffers ahead of the
// workers below 4, none from 4 on), resumable or not, and resumed with
// parts already on S3: every run completes, the object is exactly the one
// an uninterrupted encryption stores (the last part carries the tag), and
// no worker outlives the call. A source that fails mid-way fails the
// upload and leaves none open. A stall shows as the test's timeout.
func TestAttackUploadConcurrencyWithoutPartsAhead(t *testing.T) {
	mark := goroutineMark()
	e := newEnv(t)
	kr := e.krs["aes"]
	c := e.client(kr)
	data := e.resumeData()
	for conc := 1; conc <= 16; conc++ {
		key := "conc-" + itoa(int64(conc))
		box := &tokenBox{}
		for _, resumable := range []bool{false, true} {
			_, err := c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)},
				e.uploadOpts(func(o *encryptionclient.UploadOptions) {
					o.Concurrency = conc
					if resumable {
						o.OnResumeToken = box.save
					}
				})...)
			if err != nil {
				t.Fatalf("concurrency %d, resumable %v: %v", conc, resumable, err)
			}
			e.mustStoreExactly(c, kr, key, data)
			noClientGoroutines(t, mark, key)
		}
		tok, _ := e.interruptedUpload(c, key+"-resumed", data, 3)
		if _, err := e.resume(c, key+"-resumed", data, tok, func(o *encryptionclient.UploadOptions) { o.Concurrency = conc }); err != nil {
			t.Fatalf("concurrency %d: resume: %v", conc, err)
		}
		e.mustStoreExactly(c, kr, key+"-resumed", data)
		noClientGoroutines(t, mark, key+" resumed")

		failing := io.MultiReader(bytes.NewReader(data[:len(data)/2]), brokenSource{})
		_, err := c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key + "-failed"), Body: failing},
			e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.Concurrency = conc })...)
		if !errors.Is(err, errUploadSourceBroke) {
			t.Fatalf("concurrency %d: a source that fails: %v", conc, err)
		}
		if m := e.leftUploads(); m != 0 {
			t.Fatalf("concurrency %d: %d multipart uploads left", conc, m)
		}
		noClientGoroutines(t, mark, key+" failed")
	}
}

var errUploadSourceBroke = errors.New("the source broke")

type brokenSource struct{}

func (brokenSource) Read([]byte) (int, error) { return 0, errUploadSourceBroke }

// A streamed GetObject body (delayed authentication) closed before any
// Read, closed twice, or read after Close: Close returns the same result
// every time, Reads after it fail, and a body closed mid-read does the
// same; with and without read-ahead (small and large bodies) and for a
// CBC source with and without a recorded plaintext length. Run with -race.
func TestAttackStreamBodyCloseOrder(t *testing.T) {
	mark := goroutineMark()
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	putLarge(t, e, "stream-big", 5<<20)
	if err := e.put(e.client(kr), ctx, "stream-small", randBytes(t, 3000)); err != nil {
		t.Fatal(err)
	}
	streamed := func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true }
	type obj struct {
		key string
		c   *encryptionclient.Client
	}
	objs := []obj{{"stream-big", e.client(kr, streamed)}, {"stream-small", e.client(kr, streamed)}}
	for _, drop := range []bool{false, true} {
		cc := putCBCVectors(t, e, drop)[0]
		objs = append(objs, obj{cc.key, e.client(cc.kr, streamed, func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
			o.EnableLegacyUnauthenticatedModes = true
		})})
	}
	for _, o := range objs {
		for _, readFirst := range []int{0, 1, 1000} {
			out, err := o.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(o.key)})
			if err != nil {
				t.Fatal(err)
			}
			if readFirst > 0 {
				if _, err := io.ReadFull(out.Body, make([]byte, readFirst)); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
					t.Fatalf("%s: %v", o.key, err)
				}
			}
			err1 := out.Body.Close()
			err2 := out.Body.Close()
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s: Close then Close: %v, %v", o.key, err1, err2)
			}
			for range 2 {
				if n, err := out.Body.Read(make([]byte, 64)); n != 0 || err == nil || err == io.EOF {
					t.Fatalf("%s: Read after Close: %d bytes, %v", o.key, n, err)
				}
			}
		}
	}
	noClientGoroutines(t, mark, "stream bodies")
}

// heldS3 records every S3 request sent while a GetObject body of the
// object is open and not read to its end: a request that needs a
// connection of its own while the GET holds one. With an HTTP client of
// one connection per host (or a bulk job with as many workers as
// connections) such a request waits for ever.
type heldS3 struct {
	*rwS3
	key  string
	mu   sync.Mutex
	open int
	held []string
}

type heldBody struct {
	rc   io.ReadCloser
	h    *heldS3
	once sync.Once
}

func (b *heldBody) release() {
	b.once.Do(func() {
		b.h.mu.Lock()
		b.h.open--
		b.h.mu.Unlock()
	})
}

func (b *heldBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.release() // read to its end (or failed): the connection is free
	}
	return n, err
}

func (b *heldBody) Close() error { b.release(); return b.rc.Close() }

func (h *heldS3) note(op, key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open > 0 {
		h.held = append(h.held, op+" "+key)
	}
}

func (h *heldS3) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	h.note("GetObject", aws.ToString(in.Key))
	out, err := h.rwS3.GetObject(ctx, in, optFns...)
	if err == nil && aws.ToString(in.Key) == h.key {
		h.mu.Lock()
		h.open++
		h.mu.Unlock()
		out.Body = &heldBody{rc: out.Body, h: h}
	}
	return out, err
}

func (h *heldS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	h.note("HeadObject", aws.ToString(in.Key))
	return h.rwS3.HeadObject(ctx, in, optFns...)
}

func (h *heldS3) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, optFns ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	h.note("GetObjectTagging", aws.ToString(in.Key))
	return h.rwS3.GetObjectTagging(ctx, in, optFns...)
}

func (h *heldS3) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	h.note("PutObject", aws.ToString(in.Key))
	return h.rwS3.PutObject(ctx, in, optFns...)
}

func (h *heldS3) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	h.note("DeleteObject", aws.ToString(in.Key))
	return h.rwS3.DeleteObject(ctx, in, optFns...)
}

// ReEncrypt of an object read in memory (an envelope in its metadata or
// in an instruction file, with or without tags) sends no S3 request while
// the source's GET body is open and unread: its one GET did, before the
// fix, read the instruction file and the tags with the body held, which
// an HTTP client with MaxConnsPerHost 1 (or a job with as many workers as
// connections) waits for until its deadline. (The multipart path sends
// its parts while it reads the body, as Adopt and Upload do.)
func TestAttackReEncryptHoldsNoConnectionWhileAsking(t *testing.T) {
	e := newEnv(t)
	old, target := e.krs["aes"], mustAES(t, nil)
	instrOpts := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
	for _, instr := range []bool{false, true} {
		for _, tagged := range []bool{false, true} {
			key := "held"
			if instr {
				key += "-instr"
			}
			if tagged {
				key += "-tagged"
			}
			opts := []func(*encryptionclient.Options){writeV2}
			if instr {
				opts = append(opts, instrOpts)
			}
			pt := randBytes(t, 1000)
			if err := e.put(e.client(old, opts...), context.Background(), key, pt); err != nil {
				t.Fatal(err)
			}
			h := &heldS3{rwS3: newRW(e), key: key}
			if tagged {
				h.fakeTags = []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}
				h.onGet = func(in *s3.GetObjectInput, out *s3.GetObjectOutput) {
					if aws.ToString(in.Key) == key {
						out.TagCount = aws.Int32(1)
					}
				}
			}
			c, err := encryptionclient.New(h, old, allowV2)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ReEncrypt(context.Background(), &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: &key, Keyring: target}); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if len(h.held) != 0 {
				t.Fatalf("%s: requests sent while the source's GET body was held open: %v", key, h.held)
			}
			if got := e.strictRead(target, key); !bytes.Equal(got, pt) {
				t.Fatalf("%s: reads otherwise", key)
			}
		}
	}
}
