package encryptionclient_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// Tests in which the S3 server (or the network before it) lies: an
// s3test.Liar between the SDK client and the real in-process server
// rewrites statuses, headers and bodies. Each lie must end in a typed
// error, with nothing released and nothing written, and never in a crash.

// liarEnv is a test world whose encryption clients talk to S3 through a
// Liar.
type liarEnv struct {
	*env
	liar *s3test.Liar
	s3   *s3.Client
}

func newLiarEnv(t *testing.T) *liarEnv {
	t.Helper()
	e := newEnv(t)
	liar := &s3test.Liar{}
	return &liarEnv{env: e, liar: liar, s3: e.srv.LiarClient(liar)}
}

// lyingClient returns an encryption client whose requests go through the
// liar.
func (e *liarEnv) lyingClient(kr materials.Keyring, optFns ...func(*encryptionclient.Options)) *encryptionclient.Client {
	e.t.Helper()
	c, err := encryptionclient.New(e.s3, kr, optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *liarEnv) in(key string) *s3.GetObjectInput {
	return &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)}
}

// readAll runs GetObject and reads the body; it returns the first error.
func readAll(ctx context.Context, c *encryptionclient.Client, in *s3.GetObjectInput) ([]byte, error) {
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, err
	}
	if out.ContentLength != nil && *out.ContentLength != int64(len(b)) {
		return b, fmt.Errorf("ContentLength says %d, the body held %d bytes", *out.ContentLength, len(b))
	}
	return b, nil
}

// noFiles fails the test when dir holds anything (a destination or a
// temporary file left behind).
func noFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		t.Errorf("left behind in the destination directory: %s", ent.Name())
	}
}

// A HeadObject that reports an absurd object size (2^62 bytes) must give
// a typed error before anything is sized from it: the per-range table of
// Download was allocated from it, and the runtime died with "fatal error:
// out of memory" (which kills this test binary: a failure too).
func TestLyingSizeFromHeadObject(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	c := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	if err := e.put(c, ctx, "obj", randBytes(t, 5000)); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{1 << 62, envelope.MaxGCMPlaintextSize + envelope.TagSize + 1, 1<<63 - 1} {
		e.liar.Reset()
		e.liar.On(s3test.Head("obj"), 0, s3test.SetHeader("Content-Length", strconv.FormatInt(size, 10)))
		_, err := e.download(c, ctx, "obj")
		if !errors.Is(err, encryptionclient.ErrTooLarge) {
			t.Errorf("Download, HeadObject size %d: %v, want ErrTooLarge", size, err)
		}
		dir := t.TempDir()
		_, err = c.DownloadFile(ctx, filepath.Join(dir, "dst"), e.in("obj"))
		if !errors.Is(err, encryptionclient.ErrTooLarge) {
			t.Errorf("DownloadFile, HeadObject size %d: %v, want ErrTooLarge", size, err)
		}
		noFiles(t, dir)
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj")})
		if !errors.Is(err, encryptionclient.ErrTooLarge) {
			t.Errorf("HeadObject, size %d: %v, want ErrTooLarge", size, err)
		}
		in := e.in("obj")
		in.Range = aws.String("bytes=0-99")
		if _, err := readAll(ctx, c, in); !errors.Is(err, encryptionclient.ErrTooLarge) {
			t.Errorf("ranged GetObject, HeadObject size %d: %v, want ErrTooLarge", size, err)
		}
	}
	// A negative size is refused as well.
	e.liar.Reset()
	e.liar.On(s3test.Head("obj"), 0, s3test.SetHeader("Content-Length", "-5"))
	if _, err := e.download(c, ctx, "obj"); err == nil || errors.Is(err, encryptionclient.ErrAuthentication) {
		t.Errorf("Download, HeadObject size -5: %v", err)
	}
}

// A GetObject answer that claims 60 MiB and sends 100 bytes must not
// allocate the 60 MiB: the buffer grows as bytes arrive. The short body is
// ErrTruncated (not tampering).
func TestLyingSizeFromGetObject(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	c := e.lyingClient(e.krs["aes"])
	if err := e.put(c, ctx, "obj", randBytes(t, 5000)); err != nil {
		t.Fatal(err)
	}
	const claim = 60 << 20
	e.liar.On(s3test.Get("obj"), 0, s3test.ShortBody(100), s3test.SetHeader("Content-Length", strconv.Itoa(claim)))
	// Warm up (connections, pools), then measure one call.
	readAll(ctx, c, e.in("obj"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readAll(ctx, c, e.in("obj"))
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("GetObject allocated %d bytes for a body of 100 bytes that claimed %d", alloc, claim)
	}
	if !errors.Is(err, encryptionclient.ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("GetObject of a body shorter than its Content-Length: %v, want ErrTruncated", err)
	}
	if errors.Is(err, encryptionclient.ErrAuthentication) {
		t.Errorf("a short body is reported as tampering: %v", err)
	}
}

// A ranged GetObject must decrypt only the range it asked for: a 200 with
// the whole body, a 206 of another range, a short or a long 206 are
// refused with a typed error, never decrypted at the wrong offset or
// returned short.
func TestLyingRangedGetObject(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	c := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	data := randBytes(t, 10000)
	if err := e.put(c, ctx, "obj", data); err != nil {
		t.Fatal(err)
	}
	whole, _, err := e.raw("obj")
	if err != nil {
		t.Fatal(err)
	}
	ranged := s3test.And(s3test.Get("obj"), s3test.Ranged)
	cases := []struct {
		name string
		lies []s3test.Lie
		want error
	}{
		{"200 with the whole body", []s3test.Lie{s3test.Status(200), s3test.DelHeader("Content-Range"), s3test.ReplaceBody(whole), s3test.SetHeader("Content-Length", strconv.Itoa(len(whole)))}, encryptionclient.ErrBadResponse},
		{"206 of another range", []s3test.Lie{s3test.ReplaceBody(whole[:100]), s3test.SetHeader("Content-Range", fmt.Sprintf("bytes 0-99/%d", len(whole)))}, encryptionclient.ErrBadResponse},
		{"206 with another total", []s3test.Lie{s3test.SetHeader("Content-Range", "bytes 1000-1099/99999")}, encryptionclient.ErrBadResponse},
		{"206 without Content-Range", []s3test.Lie{s3test.DelHeader("Content-Range")}, encryptionclient.ErrBadResponse},
		{"206 with a Content-Length other than the range", []s3test.Lie{s3test.SetHeader("Content-Length", "10")}, encryptionclient.ErrBadResponse},
		{"short 206", []s3test.Lie{s3test.ShortBody(10)}, encryptionclient.ErrTruncated},
		{"cut 206", []s3test.Lie{s3test.CutBody(10)}, encryptionclient.ErrTruncated},
		{"long 206", []s3test.Lie{s3test.LongBody(make([]byte, 50))}, encryptionclient.ErrTooLarge},
	}
	for _, tc := range cases {
		e.liar.Reset()
		e.liar.On(ranged, 0, tc.lies...)
		in := e.in("obj")
		in.Range = aws.String("bytes=1000-1099")
		got, err := readAll(ctx, c, in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ranged GetObject returned %d bytes (right plaintext: %v), error %v, want %v", tc.name, len(got), bytes.Equal(got, data[1000:1100]), err, tc.want)
		}
		// Download reads by ranges too: the same lies on every range.
		_, err = e.download(c, ctx, "obj", func(o *encryptionclient.DownloadOptions) { o.PartSize = 4096 })
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Download: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Untouched, both work.
	e.liar.Reset()
	in := e.in("obj")
	in.Range = aws.String("bytes=1000-1099")
	if got, err := readAll(ctx, c, in); err != nil || !bytes.Equal(got, data[1000:1100]) {
		t.Fatalf("honest ranged GetObject: %v", err)
	}
	if got, err := e.download(c, ctx, "obj", func(o *encryptionclient.DownloadOptions) { o.PartSize = 4096 }); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("honest Download: %v", err)
	}
}

// A whole-object GetObject answered with a range, or another status, is
// refused; so is a body longer than its Content-Length.
func TestLyingWholeGetObject(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	data := randBytes(t, 5000)
	for _, delayed := range []bool{false, true} {
		c := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = delayed })
		if err := e.put(c, ctx, "obj", data); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			lies []s3test.Lie
			want error
		}{
			{"206 to a whole GET", []s3test.Lie{s3test.Status(206), s3test.SetHeader("Content-Range", "bytes 0-5015/5016")}, encryptionclient.ErrBadResponse},
			{"cut body", []s3test.Lie{s3test.CutBody(3000)}, encryptionclient.ErrTruncated},
			{"short body", []s3test.Lie{s3test.ShortBody(3000)}, encryptionclient.ErrTruncated},
			{"long body", []s3test.Lie{s3test.LongBody([]byte("more"))}, encryptionclient.ErrTooLarge},
		} {
			e.liar.Reset()
			e.liar.On(s3test.Get("obj"), 0, tc.lies...)
			got, err := readAll(ctx, c, e.in("obj"))
			if !errors.Is(err, tc.want) {
				t.Errorf("%s (delayed %v): %d bytes, %v, want %v", tc.name, delayed, len(got), err, tc.want)
			}
		}
		e.liar.Reset()
	}
}

// One value per error class: every path that reports "too large" matches
// errors.Is(err, encryptionclient.ErrTooLarge), every authentication
// failure encryptionclient.ErrAuthentication, whichever layer found it.
func TestErrorClassesOneIdentity(t *testing.T) {
	for _, v := range []struct {
		name string
		a, b error
	}{
		{"gcmstream.ErrTooLarge", gcmstream.ErrTooLarge, encryptionclient.ErrTooLarge},
		{"objectcrypto.ErrTooLarge", objectcrypto.ErrTooLarge, encryptionclient.ErrTooLarge},
		{"envelope.ErrTooLarge", envelope.ErrTooLarge, encryptionclient.ErrTooLarge},
		{"gcmstream.ErrAuthentication", gcmstream.ErrAuthentication, encryptionclient.ErrAuthentication},
		{"envelope.ErrAuthentication", envelope.ErrAuthentication, encryptionclient.ErrAuthentication},
		{"envelope.ErrTruncated", envelope.ErrTruncated, encryptionclient.ErrTruncated},
		{"objectcrypto.ErrTruncated", objectcrypto.ErrTruncated, encryptionclient.ErrTruncated},
	} {
		if v.a != v.b {
			t.Errorf("%s is another value than the encryptionclient class", v.name)
		}
	}

	e := newLiarEnv(t)
	ctx := context.Background()
	data := randBytes(t, 5000)
	if err := e.put(e.client(e.krs["aes"]), ctx, "obj", data); err != nil {
		t.Fatal(err)
	}
	small := func(o *encryptionclient.Options) { o.BufferSize = 1000 }
	tooLarge := []struct {
		name string
		opts func(*encryptionclient.Options)
		lies []s3test.Lie
		run  func(c *encryptionclient.Client) error
	}{
		{"no Content-Length, body over BufferSize", small, []s3test.Lie{s3test.DelHeader("Content-Length")}, nil},
		{"Content-Length over BufferSize", small, nil, nil},
		{"body longer than its Content-Length", nil, []s3test.Lie{s3test.LongBody(make([]byte, 100))}, nil},
		{"body longer than its Content-Length (CBC-size claim)", nil, []s3test.Lie{s3test.LongBody(make([]byte, 100)), s3test.SetHeader("Content-Length", "1000")}, nil},
		{"Content-Length over the GCM limit (delayed authentication)", func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true },
			[]s3test.Lie{s3test.SetHeader("Content-Length", strconv.FormatInt(envelope.MaxGCMPlaintextSize+envelope.TagSize+1, 10))}, nil},
		{"plaintext over the GCM limit (PutObject)", nil, nil, func(c *encryptionclient.Client) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("huge"), Body: strings.NewReader("x"), ContentLength: aws.Int64(envelope.MaxGCMPlaintextSize + 1)})
			return err
		}},
	}
	for _, tc := range tooLarge {
		e.liar.Reset()
		if tc.lies != nil {
			e.liar.On(s3test.Get("obj"), 0, tc.lies...)
		}
		var opts []func(*encryptionclient.Options)
		if tc.opts != nil {
			opts = append(opts, tc.opts)
		}
		c := e.lyingClient(e.krs["aes"], opts...)
		var err error
		if tc.run != nil {
			err = tc.run(c)
		} else {
			_, err = readAll(ctx, c, e.in("obj"))
		}
		if !errors.Is(err, encryptionclient.ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", tc.name, err)
		}
	}

	flip := s3test.EditBody(func(_ *http.Request, b []byte) []byte {
		if len(b) > 0 {
			b[len(b)/2] ^= 1
		}
		return b
	})
	auth := []struct {
		name string
		opts func(*encryptionclient.Options)
		run  func(c *encryptionclient.Client) error
	}{
		{"GetObject", nil, nil},
		{"GetObject, delayed authentication", func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true }, nil},
		{"Download", nil, func(c *encryptionclient.Client) error { _, err := e.download(c, ctx, "obj"); return err }},
		{"DownloadFile", nil, func(c *encryptionclient.Client) error {
			_, err := c.DownloadFile(ctx, filepath.Join(t.TempDir(), "f"), e.in("obj"))
			return err
		}},
	}
	for _, tc := range auth {
		e.liar.Reset()
		e.liar.On(s3test.Get("obj"), 0, flip)
		var opts []func(*encryptionclient.Options)
		if tc.opts != nil {
			opts = append(opts, tc.opts)
		}
		c := e.lyingClient(e.krs["aes"], opts...)
		var err error
		if tc.run != nil {
			err = tc.run(c)
		} else {
			_, err = readAll(ctx, c, e.in("obj"))
		}
		if !errors.Is(err, encryptionclient.ErrAuthentication) || !errors.Is(err, envelope.ErrAuthentication) {
			t.Errorf("%s of an altered body: %v, want ErrAuthentication", tc.name, err)
		}
	}
}

// cbcObject stores the 65541-byte legacy CBC vector and returns its
// plaintext, ciphertext and a keyring that opens it.
func cbcObject(t *testing.T, e *env, key string) (pt, ct []byte, kr materials.Keyring) {
	t.Helper()
	vs, err := testvectors.Load(filepath.Join(testvectors.Dir(), "sdkv1-v1client-cbc"))
	if err != nil {
		t.Fatal(err)
	}
	var v *testvectors.Vector
	for _, cand := range vs {
		if cand.PlaintextRef.Size == 65541 && !cand.Negative() {
			v = cand
		}
	}
	if v == nil {
		t.Fatal("no CBC vector of 65541 bytes")
	}
	if ct, err = v.Ciphertext(); err != nil {
		t.Fatal(err)
	}
	if pt, err = v.Plaintext(); err != nil {
		t.Fatal(err)
	}
	dk, err := base64.StdEncoding.DecodeString(v.KMS[0].PlaintextKeyB64)
	if err != nil {
		t.Fatal(err)
	}
	e.putRaw(key, ct, v.Metadata)
	return pt, ct, vectorKeyring{key: dk}
}

// A legacy CBC object has no tag: a body cut mid-way must fail on every
// read path (the length S3 announced, the length the envelope records
// and the padding are all it has), and leave no file behind. Download and
// DownloadFile took the cut for the end and returned half the object.
func TestLyingLegacyCBCCut(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	pt, ct, kr := cbcObject(t, e.env, "cbc")
	requireStoredMetadata(t, e.env, "cbc", "x-amz-unencrypted-content-length")
	legacy := func(delayed bool) *encryptionclient.Client {
		return e.lyingClient(kr, func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
			o.EnableLegacyUnauthenticatedModes = true
			o.EnableDelayedAuthentication = delayed
		})
	}
	half := int64(len(ct) / 2)
	whole := s3test.And(s3test.Get("cbc"), s3test.Whole)
	for _, tc := range []struct {
		name string
		arm  func()
		want []error
	}{
		{"connection cut mid-way", func() { e.liar.On(whole, 0, s3test.CutBody(half)) }, []error{encryptionclient.ErrTruncated, io.ErrUnexpectedEOF}},
		{"connection cut at a block boundary", func() { e.liar.On(whole, 0, s3test.CutBody(half/16*16)) }, []error{encryptionclient.ErrTruncated, io.ErrUnexpectedEOF}},
		{"clean end before Content-Length", func() { e.liar.On(whole, 0, s3test.ShortBody(half)) }, []error{encryptionclient.ErrTruncated}},
		// The GET's Content-Length agrees with the short body, but not
		// with HeadObject (Download) or the recorded plaintext length.
		{"short body with a matching Content-Length", func() {
			e.liar.On(whole, 0, s3test.ShortBody(half/16*16), s3test.ContentLengthToBody())
		}, []error{encryptionclient.ErrBadResponse, encryptionclient.ErrMalformed}},
		// Every size agrees with the short body but the envelope's record
		// of the plaintext length (x-amz-unencrypted-content-length).
		{"short body, every Content-Length agreeing", func() {
			cut := strconv.Itoa(int(half / 16 * 16))
			e.liar.On(whole, 0, s3test.ShortBody(half/16*16), s3test.ContentLengthToBody())
			e.liar.On(s3test.Head("cbc"), 0, s3test.SetHeader("Content-Length", cut))
		}, []error{encryptionclient.ErrMalformed}},
	} {
		for _, delayed := range []bool{false, true} {
			c := legacy(delayed)
			label := fmt.Sprintf("%s (delayed %v)", tc.name, delayed)
			check := func(op string, n int, err error) {
				t.Helper()
				ok := false
				for _, w := range tc.want {
					ok = ok || errors.Is(err, w)
				}
				if !ok {
					t.Errorf("%s: %s returned %d of %d bytes, error %v, want one of %v", label, op, n, len(pt), err, tc.want)
				}
			}
			e.liar.Reset()
			tc.arm()
			got, err := readAll(ctx, c, e.in("cbc"))
			check("GetObject", len(got), err)
			if delayed {
				continue // Download does not depend on the option
			}
			got, err = e.download(c, ctx, "cbc")
			check("Download", len(got), err)
			dir := t.TempDir()
			n, err := c.DownloadFile(ctx, filepath.Join(dir, "dst"), e.in("cbc"))
			check("DownloadFile", int(n), err)
			noFiles(t, dir)
		}
	}
	// Untouched, every path reads it.
	e.liar.Reset()
	c := legacy(false)
	if got, err := readAll(ctx, c, e.in("cbc")); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("honest GetObject of the CBC object: %v", err)
	}
	if got, err := e.download(c, ctx, "cbc"); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("honest Download of the CBC object: %v", err)
	}
}

// Rewrap copies an object onto itself, in parts when it is large: the
// part table was sized from HeadObject's Content-Length, and a size near
// 2^63 overflowed it (a panic). The size is bounded before any write, and
// nothing is left behind (no multipart upload).
func TestLyingSizeRewrap(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	c := e.lyingClient(e.krs["aes"])
	data := randBytes(t, 5000)
	if err := e.put(c, ctx, "obj", data); err != nil {
		t.Fatal(err)
	}
	newAES, err := materials.NewAESKeyring(randBytes(t, 32), func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"purpose": "new"}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{1<<63 - 1, 1 << 62, envelope.MaxGCMPlaintextSize + envelope.TagSize + 1} {
		e.liar.Reset()
		e.liar.On(s3test.Head("obj"), 0, s3test.SetHeader("Content-Length", strconv.FormatInt(size, 10)))
		_, err := c.Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("obj"), Keyring: newAES})
		if !errors.Is(err, encryptionclient.ErrTooLarge) {
			t.Errorf("Rewrap, HeadObject size %d: %v, want ErrTooLarge", size, err)
		}
		for _, r := range e.liar.Requests() {
			if !strings.HasPrefix(r, "HEAD ") && !strings.HasPrefix(r, "GET ") {
				t.Errorf("Rewrap, HeadObject size %d, wrote: %s", size, r)
			}
		}
	}
	e.liar.Reset()
	if got, err := e.get(e.client(e.krs["aes"]), ctx, "obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object after the refused re-wraps: %v", err)
	}
}
