package encryptionclient_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// What the encrypting writes trust about the caller's source: the tests of
// bodies that change between the SDK's passes over them, of sources that
// fail, and of bodies longer or shorter than ContentLength.

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// crcPreservingChange returns data with the bytes of [off, off+win) changed
// so that the CRC-32C of the whole is unchanged. CRC is affine: for equal
// lengths crc(a⊕d) = crc(a) ⊕ crc(d) ⊕ crc(0ⁿ), so it suffices that the
// difference d has crc(d) = crc(0ⁿ). d takes random bytes in the window but
// its last four, which are solved for by Gaussian elimination over GF(2).
func crcPreservingChange(t *testing.T, data []byte, off, win int) []byte {
	t.Helper()
	n := len(data)
	zero := crc32.Checksum(make([]byte, n), castagnoliTable)
	lin := func(d []byte) uint32 { return crc32.Checksum(d, castagnoliTable) ^ zero }
	d := make([]byte, n)
	copy(d[off:off+win-4], randBytes(t, win-4))
	target := lin(d) // the free bytes' contribution, to be cancelled
	// cols[j] is the contribution of bit j of the four solved bytes.
	var cols [32]uint32
	e := make([]byte, n)
	for j := range 32 {
		e[off+win-4+j/8] = 1 << (j % 8)
		cols[j] = lin(e)
		e[off+win-4+j/8] = 0
	}
	// Solve Σ x_j·cols[j] = target: rows are the 32 bits of the CRC.
	type row struct{ coef, rhs uint32 }
	var rows [32]row
	for i := range 32 {
		for j := range 32 {
			rows[i].coef |= (cols[j] >> i & 1) << j
		}
		rows[i].rhs = target >> i & 1
	}
	for j := range 32 {
		p := -1
		for i := j; i < 32; i++ {
			if rows[i].coef>>j&1 == 1 {
				p = i
				break
			}
		}
		if p < 0 {
			t.Fatal("CRC system is singular")
		}
		rows[j], rows[p] = rows[p], rows[j]
		for i := range 32 {
			if i != j && rows[i].coef>>j&1 == 1 {
				rows[i].coef ^= rows[j].coef
				rows[i].rhs ^= rows[j].rhs
			}
		}
	}
	for j := range 32 {
		if rows[j].rhs == 1 {
			d[off+win-4+j/8] |= 1 << (j % 8)
		}
	}
	alt := bytes.Clone(data)
	for i := range alt {
		alt[i] ^= d[i]
	}
	if bytes.Equal(alt, data) {
		t.Fatal("the change is empty")
	}
	if crc32.Checksum(alt, castagnoliTable) != crc32.Checksum(data, castagnoliTable) {
		t.Fatal("the change does not preserve the CRC-32C")
	}
	return alt
}

// switchingSource is an adversarial io.ReadSeeker: it serves orig until
// switched reports true, then alt (the same length). The adversary knows
// the plaintext and chooses the change; it switches once the server has
// seen a whole first attempt.
type switchingSource struct {
	orig, alt []byte
	switched  func() bool
	pos       int64
	altReads  atomic.Int64 // bytes served from alt
}

func (s *switchingSource) Read(p []byte) (int, error) {
	if s.pos >= int64(len(s.orig)) {
		return 0, io.EOF
	}
	data := s.orig
	alt := s.switched()
	if alt {
		data = s.alt
	}
	n := copy(p, data[s.pos:])
	s.pos += int64(n)
	if alt {
		s.altReads.Add(int64(n))
	}
	return n, nil
}

func (s *switchingSource) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += s.pos
	case io.SeekEnd:
		off += int64(len(s.orig))
	}
	if off < 0 {
		return 0, errors.New("negative position")
	}
	s.pos = off
	return off, nil
}

// wireProxy forwards to an S3 server and records the body of every PUT
// whose path ends with suffix, as the server received it. The first such
// PUT is read whole, recorded and then dropped (the connection is cut), so
// that the SDK rewinds the body and sends it again.
type wireProxy struct {
	rp     *httputil.ReverseProxy
	suffix string
	drop   atomic.Int32 // PUTs left to drop
	sent   atomic.Bool  // a whole body reached the proxy
	mu     sync.Mutex
	bodies [][]byte
}

func newWireProxy(t *testing.T, target, suffix string, drops int32) (*wireProxy, *s3.Client) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &wireProxy{rp: httputil.NewSingleHostReverseProxy(u), suffix: suffix}
	p.drop.Store(drops)
	ts := httptest.NewServer(p)
	t.Cleanup(ts.Close)
	c := s3.New(s3.Options{
		BaseEndpoint: aws.String(ts.URL), Region: "us-east-1", UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           4,
	})
	return p, c
}

func (p *wireProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, p.suffix) {
		p.rp.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	p.mu.Lock()
	p.bodies = append(p.bodies, body)
	p.mu.Unlock()
	if err != nil {
		return // the client gave up on this attempt
	}
	p.sent.Store(true)
	if p.drop.Add(-1) >= 0 {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.rp.ServeHTTP(w, r)
}

// distinct reports whether two recorded bodies differ where both have
// bytes: two ciphertexts of one key and IV that differ reveal the hash key.
func (p *wireProxy) distinct() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, a := range p.bodies {
		for _, b := range p.bodies[i+1:] {
			n := min(len(a), len(b))
			if !bytes.Equal(a[:n], b[:n]) {
				return len(p.bodies), true
			}
		}
	}
	return len(p.bodies), false
}

// A seekable body that changes between the SDK's passes in a way that
// keeps each segment's CRC-32C: two different ciphertexts under one data
// key and IV would reach the server, from which the GCM hash key follows
// and objects can be forged. The change must be refused before any byte of
// differing ciphertext is sent.
func TestCRCPreservingBodyChangeIsRefused(t *testing.T) {
	for _, op := range []string{"PutObject", "Upload"} {
		t.Run(op, func(t *testing.T) {
			e := newEnv(t)
			if e.srv.Real {
				t.Skip("the recording proxy needs the in-process server")
			}
			key := "changing-" + op
			proxy, viaProxy := newWireProxy(t, e.srv.URL, "/"+key, 1)
			c, err := encryptionclient.New(viaProxy, e.krs["aes"])
			if err != nil {
				t.Fatal(err)
			}
			data := randBytes(t, 200<<10) // one segment of the body guard
			src := &switchingSource{orig: data, alt: crcPreservingChange(t, data, 1000, 64), switched: proxy.sent.Load}
			in := &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: src}
			if op == "PutObject" {
				_, err = c.PutObject(context.Background(), in)
			} else {
				_, err = c.Upload(context.Background(), in)
			}
			if src.altReads.Load() == 0 {
				t.Fatalf("the adversary never served its change (err %v)", err)
			}
			if n, bad := proxy.distinct(); bad {
				t.Errorf("the server received two different ciphertexts under one key and IV (%d bodies); err %v", n, err)
			}
			mustErrorIs(t, err, encryptionclient.ErrBodyChanged)
			if e.exists(key) {
				t.Fatal("an object was stored from a changed body")
			}
		})
	}
}

// UploadPart reads the part into memory once: SDK retries resend those
// bytes whatever the source does afterwards. A part number sent again by
// the caller with bytes that differ (here keeping their CRC-32C) is
// refused before anything is sent; the comparison is of the GHASH of the
// ciphertext under the secret hash key.
func TestUploadPartChangedSourceIsRefused(t *testing.T) {
	e := newEnv(t)
	if e.srv.Real {
		t.Skip("the recording proxy needs the in-process server")
	}
	key := "mp-changing"
	proxy, viaProxy := newWireProxy(t, e.srv.URL, "/"+key, 1)
	c, err := encryptionclient.New(viaProxy, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	ps := e.testPartSize()
	cctx := encryptionclient.WithPartSize(e.partCtx(context.Background()), ps)
	out, err := c.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(t, int(ps))
	alt := crcPreservingChange(t, data, 100, 32)
	src := &switchingSource{orig: data, alt: alt, switched: proxy.sent.Load}
	pctx := e.partCtx(context.Background())
	part := func(body io.Reader) error {
		_, err := c.UploadPart(pctx, &s3.UploadPartInput{Bucket: &e.bucket, Key: aws.String(key), UploadId: out.UploadId, PartNumber: aws.Int32(1), Body: body})
		return err
	}
	// The first attempt is dropped after the source switched: the retry
	// sends the buffered bytes.
	if err := part(src); err != nil {
		t.Fatal(err)
	}
	if src.altReads.Load() != 0 {
		t.Fatal("UploadPart read its source again for a retry")
	}
	// The caller sends part 1 again with the changed bytes.
	err = part(bytes.NewReader(alt))
	mustErrorIs(t, err, encryptionclient.ErrPartConflict)
	if n, bad := proxy.distinct(); bad || n != 2 {
		t.Fatalf("%d part bodies reached the server (want 2), differing: %v", n, bad)
	}
	if _, err := c.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String(key), UploadId: out.UploadId}); err != nil {
		t.Fatal(err)
	}
	e.mustHaveNoUploads()
}

// primeUploads creates and aborts a multipart upload with the plain client:
// gofakes3 answers ListMultipartUploads with NoSuchUpload for a bucket that
// never had one, and the tests below list the uploads left behind.
func primeUploads(t *testing.T, e *env) {
	t.Helper()
	out, err := e.plain.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("prime")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("prime"), UploadId: out.UploadId}); err != nil {
		t.Fatal(err)
	}
	e.mustHaveNoUploads()
}

var errSourceBroke = errors.New("source broke with its last bytes")

// lastReadErr returns its data in pieces of at most piece bytes; the read
// that returns the last bytes returns err with them, once. Later reads
// return io.EOF, so the error is seen only if it is not dropped.
type lastReadErr struct {
	data  []byte
	piece int
	err   error
}

func (r *lastReadErr) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.piece)], r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, r.err
	}
	return n, nil
}

// corruptGzip returns a gzip.Reader over a gzip stream of data whose
// trailer checksum is wrong: it returns all of data, then (possibly with
// the last bytes) gzip.ErrChecksum.
func corruptGzip(t *testing.T, data []byte) io.Reader {
	t.Helper()
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(data)
	w.Close()
	b := z.Bytes()
	b[len(b)-8] ^= 1 // the CRC-32 in the trailer
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The gzip reader really does return the checksum error together with the
// last bytes, as the tests below rely on.
func TestCorruptGzipReturnsErrorWithLastBytes(t *testing.T) {
	data := randBytes(t, 100<<10)
	r := corruptGzip(t, data)
	buf := make([]byte, 1<<20)
	got := 0
	for {
		n, err := r.Read(buf[got:])
		got += n
		if err != nil {
			if err != gzip.ErrChecksum || n == 0 {
				t.Fatalf("last read: %d bytes, %v; want bytes with gzip.ErrChecksum", n, err)
			}
			break
		}
	}
	if got != len(data) {
		t.Fatalf("%d bytes before the error, want %d", got, len(data))
	}
}

// sourceCase is one way of failing a source, with the error to expect.
type sourceCase struct {
	name string
	src  func(t *testing.T, data []byte) io.Reader
	want error
}

var failingSources = []sourceCase{
	{"gzip-bad-checksum", corruptGzip, gzip.ErrChecksum},
	{"error-with-last-read", func(t *testing.T, data []byte) io.Reader {
		return &lastReadErr{data: data, piece: 7 << 10, err: errSourceBroke}
	}, errSourceBroke},
}

// A source error, even one that comes with the last bytes, fails the
// upload: no object is stored, no multipart upload is left, and nothing is
// authenticated over the bytes that came with the error. The plain SDK
// refuses the same requests.
func TestSourceErrorFailsUpload(t *testing.T) {
	e := newEnv(t)
	primeUploads(t, e)
	c := e.client(e.krs["aes"])
	ps := int(e.testPartSize())
	for _, sc := range failingSources {
		// The plain SDK (unsigned payload, so that it streams the body).
		data := randBytes(t, 50<<10)
		_, err := e.plain.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &e.bucket, Key: aws.String("plain-" + sc.name), Body: sc.src(t, data), ContentLength: aws.Int64(int64(len(data))),
		}, func(o *s3.Options) {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		})
		// For reference only: when the error comes with the last bytes,
		// net/http may see it after the server answered, so the plain
		// SDK's refusal is not certain. The encrypting client's is (below).
		t.Logf("%s: the plain SDK's answer: %v", sc.name, err)

		type op struct {
			name  string
			size  int
			known bool // ContentLength set
			call  func(in *s3.PutObjectInput) error
		}
		put := func(in *s3.PutObjectInput) error { _, err := c.PutObject(context.Background(), in); return err }
		upload := func(in *s3.PutObjectInput) error {
			_, err := c.Upload(e.uploadCtx(context.Background()), in, e.uploadOpts()...)
			return err
		}
		ops := []op{
			{"PutObject", 50 << 10, true, put},
			{"PutObject-segments", 512 << 10, true, put}, // a whole number of guard segments
			{"Upload-small-known", ps / 2, true, upload},
			{"Upload-small-unknown", ps / 2, false, upload},
			{"Upload-parts-known", 3*ps + 100, true, upload},
			{"Upload-parts-unknown", 3*ps + 100, false, upload},
			{"Upload-whole-parts-known", 3 * ps, true, upload},
			{"Upload-whole-parts-unknown", 3 * ps, false, upload},
		}
		for _, o := range ops {
			key := sc.name + "/" + o.name
			data := randBytes(t, o.size)
			in := &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: sc.src(t, data)}
			if o.known {
				in.ContentLength = aws.Int64(int64(len(data)))
			}
			err := o.call(in)
			if !errors.Is(err, sc.want) {
				t.Errorf("%s: got %v, want %v", key, err, sc.want)
			}
			if e.exists(key) {
				t.Errorf("%s: an object was stored from a failed source", key)
			}
			e.mustHaveNoUploads()
		}

		// UploadPart, with and without ContentLength.
		for _, known := range []bool{true, false} {
			key := sc.name + "/UploadPart"
			m := e.createMP(c, key)
			data := randBytes(t, ps/2)
			in := &s3.UploadPartInput{Bucket: &e.bucket, Key: aws.String(key), UploadId: m.id, PartNumber: aws.Int32(1), Body: sc.src(t, data)}
			if known {
				in.ContentLength = aws.Int64(int64(len(data)))
			}
			_, err := c.UploadPart(encryptionclient.WithLastPart(e.partCtx(context.Background())), in)
			if !errors.Is(err, sc.want) {
				t.Errorf("%s (ContentLength %v): got %v, want %v", key, known, err, sc.want)
			}
			parts, lerr := e.plain.ListParts(context.Background(), &s3.ListPartsInput{Bucket: &e.bucket, Key: aws.String(key), UploadId: m.id})
			if lerr != nil {
				t.Fatal(lerr)
			}
			if len(parts.Parts) != 0 {
				t.Errorf("%s: a part was stored from a failed source", key)
			}
			if _, err := m.complete(nil); !errors.Is(err, encryptionclient.ErrMissingPart) {
				t.Errorf("%s: completion without the part: %v", key, err)
			}
			if err := m.abort(); err != nil {
				t.Fatal(err)
			}
			e.mustHaveNoUploads()
		}
	}
}

// A body longer than ContentLength is refused with ErrBodyLength, as the
// plain SDK refuses it; nothing is stored or left behind. (Encrypting only
// the first ContentLength bytes would store a silently truncated object.)
func TestBodyLongerThanContentLengthIsRefused(t *testing.T) {
	e := newEnv(t)
	primeUploads(t, e)
	c := e.client(e.krs["aes"])
	ps := int(e.testPartSize())
	bodies := map[string]func(data []byte) io.Reader{
		"seekable":     func(data []byte) io.Reader { return bytes.NewReader(data) },
		"non-seekable": func(data []byte) io.Reader { return io.MultiReader(bytes.NewReader(data)) },
	}
	for kind, mk := range bodies {
		data := randBytes(t, 50<<10)
		_, err := e.plain.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &e.bucket, Key: aws.String("plain-long-" + kind), Body: mk(data), ContentLength: aws.Int64(int64(len(data) - 10)),
		}, func(o *s3.Options) {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		})
		// For reference only: net/http notices the extra bytes after it
		// wrote ContentLength of them, racing the server's answer, so the
		// plain SDK refuses such a body most of the time, not always. The
		// encrypting client must refuse it every time (below).
		t.Logf("%s: the plain SDK's answer to a body longer than ContentLength: %v", kind, err)
		for _, o := range []struct {
			name string
			size int
		}{{"PutObject", 50 << 10}, {"Upload-small", ps / 2}, {"Upload-parts", 3*ps + 100}, {"Upload-whole-parts", 3 * ps}} {
			key := kind + "/" + o.name
			data := randBytes(t, o.size+1)
			in := &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: mk(data), ContentLength: aws.Int64(int64(o.size))}
			var err error
			if o.name == "PutObject" {
				_, err = c.PutObject(context.Background(), in)
			} else {
				_, err = c.Upload(e.uploadCtx(context.Background()), in, e.uploadOpts()...)
			}
			if !errors.Is(err, encryptionclient.ErrBodyLength) {
				t.Errorf("%s: got %v, want ErrBodyLength", key, err)
			}
			if e.exists(key) {
				t.Errorf("%s: a truncated object was stored", key)
			}
			e.mustHaveNoUploads()
		}
		key := kind + "/UploadPart"
		m := e.createMP(c, key)
		data = randBytes(t, ps/2+1)
		_, err = c.UploadPart(encryptionclient.WithLastPart(e.partCtx(context.Background())), &s3.UploadPartInput{
			Bucket: &e.bucket, Key: aws.String(key), UploadId: m.id, PartNumber: aws.Int32(1), Body: mk(data), ContentLength: aws.Int64(int64(ps / 2)),
		})
		if !errors.Is(err, encryptionclient.ErrBodyLength) {
			t.Errorf("%s: got %v, want ErrBodyLength", key, err)
		}
		if err := m.abort(); err != nil {
			t.Fatal(err)
		}
		e.mustHaveNoUploads()
	}
}
