package encryptionclient

import (
	"errors"
	"fmt"
	"io"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// segmentSize is the unit in which the body is encrypted, and in which a
// rewound body is compared with what it gave before. It is also the size
// of the body's one buffer.
const segmentSize = 256 << 10

// encryptingBody is the request body of an encrypting PutObject: the
// ciphertext and tag of exactly size plaintext bytes. When the source can
// seek, the body can be rewound (the SDK reads it once to sign it and again
// to send it, and again on retries); every pass must then see the same
// plaintext, or the same key and IV would encrypt two plaintexts, and two
// such ciphertexts reveal the GCM hash key. The body reads the plaintext
// one whole segment at a time into its buffer and hands it to
// objectcrypto.Passes, which encrypts it in place and, for a segment
// sealed before, compares the GHASH of the new ciphertext with the one
// recorded then, wiping the segment if they differ; the caller's reads
// are served from that buffer only after the check. The tag of the first
// pass stands.
//
// Any error of the body is final: a source error, a length that differs
// from size, or a change between passes fails every later pass too, so
// that no retry of the SDK gets around it.
type encryptingBody struct {
	src    io.Reader
	seeker io.Seeker // nil when the source cannot rewind
	start  int64     // source offset of the first plaintext byte
	size   int64     // plaintext bytes
	ctLen  int64     // ciphertext bytes

	passes *objectcrypto.Passes
	buf    []byte // segmentSize + tag bytes of room
	out    []byte // ciphertext of the current segment not yet read
	plain  *exactReader
	seg    int   // next segment of this pass
	done   bool  // this pass has produced the tag
	pass   int   // passes started
	pos    int64 // ciphertext bytes read in this pass
	atEnd  bool  // a Seek to the end is in effect
	closed bool
	err    error // the first error the body itself returned
}

func newEncryptingBody(s *objectcrypto.Sealer, src io.Reader, seeker io.Seeker, start, size, ctLen int64) *encryptingBody {
	b := &encryptingBody{src: src, seeker: seeker, start: start, size: size, ctLen: ctLen}
	// A body that cannot rewind is read once: nothing to compare.
	b.passes, b.err = s.Passes(segmentSize, seeker != nil)
	b.reset()
	return b
}

func (b *encryptingBody) reset() {
	b.pass++
	b.pos, b.seg, b.done, b.out = 0, 0, false, nil
	b.plain = &exactReader{r: b.src, left: b.size, size: b.size}
}

func (b *encryptingBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("encryptionclient: read of a closed body")
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.atEnd {
		return 0, io.EOF
	}
	if len(b.out) == 0 {
		if b.done {
			return 0, io.EOF
		}
		if err := b.next(); err != nil {
			b.err = err
			return 0, err
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	b.pos += int64(n)
	if len(b.out) == 0 && b.done {
		return n, io.EOF
	}
	return n, nil
}

// WriteTo writes the rest of the pass to w straight from the body's
// buffer, a segment at a time: the SDK's payload hash (io.Copy into
// SHA-256 and the checksum) then reads the ciphertext with no copy in
// between. It obeys the same rules as Read.
func (b *encryptingBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if b.closed {
			return total, errors.New("encryptionclient: read of a closed body")
		}
		if b.err != nil {
			return total, b.err
		}
		if b.atEnd {
			return total, nil
		}
		if len(b.out) == 0 {
			if b.done {
				return total, nil
			}
			if err := b.next(); err != nil {
				b.err = err
				return total, err
			}
		}
		n, err := w.Write(b.out)
		if n < 0 || n > len(b.out) {
			n, err = 0, streamio.ErrInvalidCount
		}
		b.out = b.out[n:]
		b.pos += int64(n)
		total += int64(n)
		if err == nil && len(b.out) > 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			// The writer's failure, not the body's: a rewind may retry.
			return total, err
		}
	}
}

// next reads, checks and encrypts the next segment of the pass into
// b.out, with the tag after the last one.
func (b *encryptingBody) next() error {
	if b.buf == nil {
		b.buf = make([]byte, min(segmentSize, b.size)+envelope.TagSize)
	}
	want := min(int64(segmentSize), b.plain.left)
	last := b.plain.left == want
	seg := b.buf[:want]
	// streamio.ReadFull keeps an error that comes with the bytes that fill
	// the buffer; io.ReadFull would drop it.
	n, err := streamio.ReadFull(b.plain, seg)
	if err == nil && last {
		// The size bytes are in: the source must end here (exactReader
		// checks at most once).
		_, err = b.plain.Read(nil)
	}
	if err != nil && err != io.EOF {
		// A source error fails the body; the bytes that came with it are
		// not encrypted.
		clear(seg[:n])
		return err
	}
	if int64(n) != want {
		clear(seg[:n])
		return shortBody(b.size-b.plain.left, b.size) // not reached: exactReader reports it
	}
	if err := b.passes.Seal(b.seg, seg, last); err != nil {
		clear(seg)
		if errors.Is(err, objectcrypto.ErrSegmentChanged) {
			return ErrBodyChanged
		}
		return err
	}
	b.seg++
	b.out = seg
	if last {
		tag, err := b.passes.Tag()
		if err != nil {
			return err
		}
		b.out = append(seg, tag[:]...) // the buffer has room for it
		clear(tag[:])
		b.done = true
	}
	return nil
}

// Seek supports what the SDK does with a body: find the position and the
// length, and rewind to the start.
func (b *encryptingBody) Seek(offset int64, whence int) (int64, error) {
	if b.err != nil {
		// Failed for good: no rewind starts another attempt.
		return 0, b.err
	}
	cur := b.pos
	if b.atEnd {
		cur = b.ctLen
	}
	var target int64
	switch whence {
	case io.SeekStart:
		target = offset
	case io.SeekCurrent:
		target = cur + offset
	case io.SeekEnd:
		target = b.ctLen + offset
	default:
		return 0, fmt.Errorf("encryptionclient: invalid whence %d", whence)
	}
	switch {
	case target == cur:
		return cur, nil
	case target == b.ctLen:
		b.atEnd = true
		return target, nil
	case target == b.pos:
		b.atEnd = false
		return target, nil
	case target == 0:
		if b.seeker == nil {
			return 0, errors.New("encryptionclient: body source cannot rewind")
		}
		if _, err := b.seeker.Seek(b.start, io.SeekStart); err != nil {
			return 0, err
		}
		b.atEnd = false
		b.reset()
		return 0, nil
	}
	return 0, fmt.Errorf("encryptionclient: body can only seek to its start or end (asked %d)", target)
}

// Close wipes the buffer and the body's secret state. It does not close
// the source: the caller owns it.
func (b *encryptingBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	clear(b.buf)
	b.out = nil
	if b.passes != nil {
		b.passes.Wipe()
	}
	return nil
}

// exactReader yields exactly size bytes of r. It fails with ErrBodyLength
// if r ends early or holds more than size bytes: after the last byte it
// reads on to see r's end, as net/http does for the plain SDK, and it
// returns r's error (which may come with the last bytes, or after them)
// together with the last bytes.
type exactReader struct {
	r          io.Reader
	left, size int64
	done       bool // the end of r was confirmed
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		if !e.done {
			// size 0, or an earlier call stopped before the end check.
			if err := expectEnd(e.r, e.size); err != nil {
				return 0, err
			}
			e.done = true
		}
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	if n < 0 || n > len(p) {
		return 0, streamio.ErrInvalidCount
	}
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		return n, shortBody(e.size-e.left, e.size)
	case err != nil && err != io.EOF:
		return n, err
	case e.left == 0:
		if err == nil {
			// The source may still hold bytes, or an error.
			if err := expectEnd(e.r, e.size); err != nil {
				return n, err
			}
		}
		e.done = true
		return n, io.EOF
	}
	return n, nil
}

func shortBody(got, want int64) error {
	return fmt.Errorf("%w: body ended after %d of %d bytes", ErrBodyLength, got, want)
}

// expectEnd checks that r, after the size bytes of a body were read, is at
// its end: it returns r's error, or ErrBodyLength if r holds more bytes.
func expectEnd(r io.Reader, size int64) error {
	var one [1]byte
	n, err := streamio.ReadFull(r, one[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: body holds more than %d bytes", ErrBodyLength, size)
	case err == io.EOF:
		return nil
	case err == nil:
		return io.ErrNoProgress // not reached: ReadFull fills or fails
	}
	return err
}

// readSized reads exactly size bytes of r into a buffer that grows as the
// bytes arrive (size is a claim: the caller's ContentLength, the server's
// Content-Length) and checks that r ends there; on an error the bytes read
// are wiped.
func readSized(r io.Reader, size int64) ([]byte, error) {
	buf, err := readUpTo(r, size)
	if err == nil && int64(len(buf)) < size {
		err = shortBody(int64(len(buf)), size)
	}
	if err == nil {
		err = expectEnd(r, size)
	}
	if err != nil {
		clear(buf)
		return nil, err
	}
	return buf, nil
}

// readExact reads exactly len(buf) bytes of r into buf and checks that r
// ends there (see exactReader).
func readExact(r io.Reader, buf []byte) error {
	n, err := streamio.ReadFull(r, buf)
	switch {
	case err == io.EOF && n < len(buf):
		return shortBody(int64(n), int64(len(buf)))
	case err != nil && err != io.EOF:
		return err
	case err == nil:
		return expectEnd(r, int64(len(buf)))
	}
	return nil
}

// plaintextSource works out the body's length and whether it can rewind.
func plaintextSource(body io.Reader, contentLength *int64) (src io.Reader, seeker io.Seeker, start, size int64, err error) {
	if body == nil {
		if contentLength != nil && *contentLength != 0 {
			return nil, nil, 0, 0, invalid("ContentLength %d with a nil body", *contentLength)
		}
		return eofReader{}, eofReader{}, 0, 0, nil
	}
	if s, ok := body.(io.Seeker); ok {
		if start, err = s.Seek(0, io.SeekCurrent); err == nil {
			seeker = s
		}
	}
	switch {
	case contentLength != nil:
		if *contentLength < 0 {
			return nil, nil, 0, 0, invalid("negative ContentLength")
		}
		size = *contentLength
	case seeker != nil:
		end, err := seeker.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		if _, err := seeker.Seek(start, io.SeekStart); err != nil {
			return nil, nil, 0, 0, err
		}
		size = end - start
	default:
		return nil, nil, 0, 0, ErrUnknownLength
	}
	return body, seeker, start, size, nil
}

// eofReader is the body of an empty object.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error)       { return 0, io.EOF }
func (eofReader) Seek(int64, int) (int64, error) { return 0, nil }
