package encryptionclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/materials"
)

func testSealer(tb testing.TB, size int64) *objectcrypto.Sealer {
	tb.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := objectcrypto.NewSealer(context.Background(), kr, envelope.Policy{}, nil, size)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func testBody(tb testing.TB, src io.ReadSeeker, size int64) *encryptingBody {
	tb.Helper()
	s := testSealer(tb, size)
	ctLen, err := envelope.CiphertextLength(s.Envelope.Suite, size)
	if err != nil {
		tb.Fatal(err)
	}
	return newEncryptingBody(s, src, src, 0, size, ctLen)
}

// toggleSource serves orig, or alt once alt is set.
type toggleSource struct {
	orig, alt []byte
	useAlt    bool
	pos       int
}

func (s *toggleSource) Read(p []byte) (int, error) {
	d := s.orig
	if s.useAlt {
		d = s.alt
	}
	if s.pos >= len(d) {
		return 0, io.EOF
	}
	n := copy(p, d[s.pos:])
	s.pos += n
	return n, nil
}

func (s *toggleSource) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += int64(s.pos)
	case io.SeekEnd:
		off += int64(len(s.orig))
	}
	s.pos = int(off)
	return off, nil
}

// A rewound body whose source changed in one segment releases the
// ciphertext of the segments before it, identical to the first pass's, and
// not one byte of the changed segment's: its ciphertext is never produced.
// The failure is final: the body cannot be rewound into a new attempt.
func TestGuardReleasesNothingOfAChangedSegment(t *testing.T) {
	for _, readSize := range []int{1000, 32 << 10, 1 << 20} {
		data := make([]byte, 3*segmentSize+100)
		rand.Read(data)
		alt := bytes.Clone(data)
		alt[2*segmentSize+5] ^= 1 // in segment 2
		src := &toggleSource{orig: data, alt: alt}
		b := testBody(t, src, int64(len(data)))
		first, err := io.ReadAll(b)
		if err != nil || int64(len(first)) != b.ctLen {
			t.Fatalf("first pass: %d bytes, %v", len(first), err)
		}
		src.useAlt = true
		if _, err := b.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, readSize)
		for {
			n, err := b.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				if !errors.Is(err, ErrBodyChanged) {
					t.Fatalf("read size %d: %v, want ErrBodyChanged", readSize, err)
				}
				break
			}
		}
		if len(got) > 2*segmentSize || !bytes.Equal(got, first[:len(got)]) {
			t.Fatalf("read size %d: %d bytes released, differing from the first pass or beyond the changed segment's start %d", readSize, len(got), 2*segmentSize)
		}
		if _, err := b.Seek(0, io.SeekStart); !errors.Is(err, ErrBodyChanged) {
			t.Fatalf("rewind after the change: %v", err)
		}
		if n, err := b.Read(buf); n != 0 || !errors.Is(err, ErrBodyChanged) {
			t.Fatalf("read after the change: %d, %v", n, err)
		}
	}
}

// oneShotErr returns data, the last bytes with err, then io.EOF.
type oneShotErr struct {
	data  []byte
	err   error
	extra []byte // bytes after data
	zeros bool   // (0, nil) forever after data
}

func (r *oneShotErr) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.zeros {
			return 0, nil
		}
		if len(r.extra) > 0 {
			n := copy(p, r.extra)
			r.extra = r.extra[n:]
			return n, nil
		}
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 && r.err != nil {
		err := r.err
		r.err = nil
		return n, err
	}
	return n, nil
}

// The exact-length readers keep the source's error, check its end, and
// refuse a body of another length.
func TestExactReaders(t *testing.T) {
	boom := errors.New("boom")
	data := []byte("0123456789")
	cases := []struct {
		name string
		src  func() io.Reader
		want error
	}{
		{"exact", func() io.Reader { return bytes.NewReader(data) }, nil},
		{"error with the last bytes", func() io.Reader { return &oneShotErr{data: data, err: boom} }, boom},
		{"error read after the end", func() io.Reader {
			return io.MultiReader(bytes.NewReader(data), errReader{boom})
		}, boom},
		{"longer", func() io.Reader { return &oneShotErr{data: data, extra: []byte("x")} }, ErrBodyLength},
		{"shorter", func() io.Reader { return bytes.NewReader(data[:9]) }, ErrBodyLength},
		{"no progress at the end", func() io.Reader { return &oneShotErr{data: data, zeros: true} }, io.ErrNoProgress},
	}
	for _, c := range cases {
		err := readExact(c.src(), make([]byte, len(data)))
		if !errors.Is(err, c.want) {
			t.Errorf("readExact, %s: %v, want %v", c.name, err, c.want)
		}
		var out bytes.Buffer
		_, err = io.Copy(&out, &exactReader{r: c.src(), left: int64(len(data)), size: int64(len(data))})
		if !errors.Is(err, c.want) {
			t.Errorf("exactReader, %s: %v, want %v", c.name, err, c.want)
		}
		if c.want == nil && out.String() != string(data) {
			t.Errorf("exactReader, %s: %q", c.name, out.Bytes())
		}
	}
	if err := readExact(&oneShotErr{data: data, extra: []byte("x")}, nil); !errors.Is(err, ErrBodyLength) {
		t.Errorf("empty body with bytes: %v", err)
	}
	if _, err := (&exactReader{r: badCount{}, left: 4, size: 4}).Read(make([]byte, 4)); err != streamio.ErrInvalidCount {
		t.Errorf("invalid count: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type badCount struct{}

func (badCount) Read(p []byte) (int, error) { return len(p) + 1, nil }

// BenchmarkPutGuard measures two passes over the encrypting body of a
// 64 MiB seekable source, as the SDK makes them (one to sign, one to
// send), read 32 KiB at a time, against the cipher's reader over the
// source twice with no guard ("none": what the body cost when it encrypted
// every pass in full and compared nothing). The two run in turn, in an
// order that alternates with every iteration, and the ratio comes from the
// same run. In "memory" both passes are discarded; in "signed" the first
// goes through SHA-256, as the SDK's SigV4 payload hash does over plain
// HTTP. Run with -benchtime=20x or so.
func BenchmarkPutGuard(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchGuard(b, false) })
	b.Run("signed", func(b *testing.B) { benchGuard(b, true) })
}

func benchGuard(b *testing.B, signed bool) {
	const size = 64 << 20
	data := make([]byte, size)
	rand.Read(data)
	sealer := testSealer(b, size)
	ctLen, _ := envelope.CiphertextLength(sealer.Envelope.Suite, size)
	buf := make([]byte, 32<<10)
	drain := func(r io.Reader, first bool) {
		var w io.Writer = io.Discard
		if first && signed {
			w = sha256.New()
		}
		if n, err := io.CopyBuffer(w, struct{ io.Reader }{r}, buf); err != nil || n != ctLen {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
	variants := []struct {
		name string
		run  func()
	}{
		{"none", func() {
			for pass := range 2 {
				drain(sealer.Reader(&exactReader{r: bytes.NewReader(data), left: size, size: size}), pass == 0)
			}
		}},
		{"guarded", func() {
			src := bytes.NewReader(data)
			body := newEncryptingBody(sealer, src, src, 0, size, ctLen)
			defer body.Close()
			drain(body, true)
			if _, err := body.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
			drain(body, false)
		}},
	}
	total := make([]time.Duration, len(variants))
	b.SetBytes(2 * size)
	for i := 0; b.Loop(); i++ {
		for k := range variants {
			j := (i + k) % len(variants)
			start := time.Now()
			variants[j].run()
			total[j] += time.Since(start)
		}
	}
	for j, v := range variants {
		b.ReportMetric(float64(total[j].Nanoseconds())/float64(b.N), v.name+"-ns/op")
	}
	b.ReportMetric(float64(total[1])/float64(total[0]), "guarded/none")
}

// shortWriter takes at most left bytes, then fails.
type shortWriter struct {
	w    bytes.Buffer
	left int
}

func (s *shortWriter) Write(p []byte) (int, error) {
	if len(p) > s.left {
		n, _ := s.w.Write(p[:s.left])
		s.left = 0
		return n, errors.New("writer full")
	}
	s.left -= len(p)
	return s.w.Write(p)
}

// WriteTo gives the bytes Read gives, keeps the body's position (a Seek
// to the start after it rewinds), and, after a rewind onto a changed
// source, writes nothing of the changed segment. A writer's own failure
// is not the body's: a rewind then starts a good pass.
func TestWriteToMatchesRead(t *testing.T) {
	data := make([]byte, 3*segmentSize+100)
	rand.Read(data)
	src := &toggleSource{orig: data, alt: bytes.Clone(data)}
	src.alt[segmentSize+7] ^= 1 // in segment 1
	b := testBody(t, src, int64(len(data)))
	defer b.Close()
	want, err := io.ReadAll(struct{ io.Reader }{b})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	sw := &shortWriter{left: 1000}
	if n, err := b.WriteTo(sw); err == nil || n != 1000 {
		t.Fatalf("short writer: %d, %v", n, err)
	}
	if pos, err := b.Seek(0, io.SeekCurrent); err != nil || pos != 1000 {
		t.Fatalf("position after a short write: %d, %v", pos, err)
	}
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if n, err := b.WriteTo(&got); err != nil || n != b.ctLen || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("WriteTo: %d bytes, %v; equal to Read's: %v", n, err, bytes.Equal(got.Bytes(), want))
	}
	src.useAlt = true
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got.Reset()
	if _, err := b.WriteTo(&got); !errors.Is(err, ErrBodyChanged) {
		t.Fatalf("WriteTo over a changed source: %v", err)
	}
	if got.Len() > segmentSize || !bytes.Equal(got.Bytes(), want[:got.Len()]) {
		t.Fatalf("WriteTo released %d bytes over a source changed in segment 1", got.Len())
	}
}
