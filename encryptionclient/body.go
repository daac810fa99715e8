package encryptionclient

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// segmentSize is the unit in which a rewound body is compared with what it
// gave before.
const segmentSize = 256 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encryptingBody is the request body of an encrypting PutObject: the
// ciphertext and tag of exactly size plaintext bytes. When the source can
// seek, the body can be rewound (the SDK reads it once to sign it and again
// to send it, and again on retries); every pass must then see the same
// plaintext, or the same key and IV would encrypt two plaintexts. A
// checksum of each segment from the first pass is compared on later ones,
// before the segment is encrypted.
type encryptingBody struct {
	sealer *objectcrypto.Sealer
	src    io.Reader
	seeker io.Seeker // nil when the source cannot rewind
	start  int64     // source offset of the first plaintext byte
	size   int64     // plaintext bytes
	ctLen  int64     // ciphertext bytes

	sums   []uint32 // per-segment checksums seen on the first pass
	pass   int
	r      io.Reader // current ciphertext stream
	pos    int64     // ciphertext bytes read in this pass
	atEnd  bool      // a Seek to the end is in effect
	guard  *segmentGuard
	closed bool
	err    error // the first error the body itself returned
}

func newEncryptingBody(s *objectcrypto.Sealer, src io.Reader, seeker io.Seeker, start, size, ctLen int64) *encryptingBody {
	b := &encryptingBody{sealer: s, src: src, seeker: seeker, start: start, size: size, ctLen: ctLen}
	b.reset()
	return b
}

func (b *encryptingBody) reset() {
	b.pass++
	b.pos = 0
	b.guard = &segmentGuard{body: b, src: &exactReader{r: b.src, left: b.size, size: b.size}}
	b.r = b.sealer.Reader(b.guard)
}

func (b *encryptingBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("encryptionclient: read of a closed body")
	}
	if b.atEnd {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	b.pos += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// Seek supports what the SDK does with a body: find the position and the
// length, and rewind to the start.
func (b *encryptingBody) Seek(offset int64, whence int) (int64, error) {
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

// Close releases buffers. It does not close the source: the caller owns it.
func (b *encryptingBody) Close() error {
	b.closed = true
	if c, ok := b.r.(io.Closer); ok {
		c.Close()
	}
	return nil
}

// segmentGuard hands the plaintext to the cipher one whole segment at a
// time, after comparing the segment's checksum with the first pass's.
type segmentGuard struct {
	body *encryptingBody
	src  io.Reader
	buf  []byte
	off  int // next byte of buf to hand out
	seg  int // index of the segment in buf
	err  error
}

func (g *segmentGuard) Read(p []byte) (int, error) {
	if g.off == len(g.buf) {
		if g.err != nil {
			return 0, g.err
		}
		if g.buf == nil {
			g.buf = make([]byte, 0, max(1, min(segmentSize, g.body.size)))
		} else {
			g.seg++
		}
		n, err := io.ReadFull(g.src, g.buf[:cap(g.buf)])
		g.buf, g.off = g.buf[:n], 0
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		g.err = err
		if n > 0 {
			if cerr := g.check(crc32.Checksum(g.buf, castagnoli)); cerr != nil {
				g.buf, g.err = g.buf[:0], cerr
				return 0, cerr
			}
		}
		if n == 0 {
			return 0, g.err
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	return n, nil
}

func (g *segmentGuard) check(sum uint32) error {
	b := g.body
	if g.seg < len(b.sums) {
		if b.sums[g.seg] != sum {
			return ErrBodyChanged
		}
		return nil
	}
	if g.seg == len(b.sums) {
		b.sums = append(b.sums, sum)
	}
	return nil
}

// exactReader yields exactly size bytes of r, failing if r ends early.
type exactReader struct {
	r          io.Reader
	left, size int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: got %d of %d bytes", ErrBodyLength, e.size-e.left, e.size)
	}
	if e.left == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}
