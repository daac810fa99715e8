package objectcrypto

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
)

// errReadAfterClose is returned by reads of a closed VerifiedReader.
var errReadAfterClose = errors.New("encryptionclient: read of a closed body")

// VerifiedReader reads the whole body into memory and checks it before it
// returns; the reader it returns then serves the plaintext. For GCM
// objects memory holds only the ciphertext: its tag is verified first, and
// each Read decrypts the next bytes straight into the caller's buffer, so
// no plaintext exists anywhere before the tag verified, and none stays in
// memory after it was read. CBC objects have no tag: they are decrypted
// into memory and their padding checked first (ReadVerified).
//
// Bodies whose plaintext would exceed limit bytes fail with [ErrTooLarge];
// size is the body's length (ciphertext and tag) when known, or −1. On any
// error nothing is returned.
//
// The ciphertext buffer of a GCM body comes from a bounded pool and goes
// back to it when the reader is closed or has returned io.EOF (a reader
// dropped without either leaves it to the garbage collector). size, a
// claim of the server, sizes it only as far as the bytes received confirm
// it: a new buffer starts at untrustedFirst (8 MiB) at most and grows to at
// most growTrust (8) times what arrived, so a server that announces more
// than it sends commits little memory (an idle pooled buffer of the
// announced size, resident already, is taken at once).
func (o *Opener) VerifiedReader(body io.Reader, limit, size int64) (io.ReadCloser, error) {
	if o.gcm == nil {
		pt, err := o.ReadVerified(body, limit, max(size, 0))
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(pt)), nil
	}
	part, err := o.gcm.Part(0)
	if err != nil {
		return nil, err
	}
	defer part.Wipe()
	buf, tag, err := readAndHash(body, clampLimit(limit), size, part)
	if err != nil {
		return nil, err
	}
	if err := o.gcm.Verify(tag[:], part.Sum()); err != nil {
		buffers.put(buf)
		return nil, envelope.ErrAuthentication
	}
	return &verifiedReader{ks: o.gcm.KeyStreamAt(0), buf: buf, ct: buf}, nil
}

// clampLimit bounds a buffer limit by what GCM can encrypt and what this
// platform can allocate, so that the arithmetic on it cannot overflow.
func clampLimit(limit int64) int64 {
	return max(0, min(limit, gcmstream.MaxPlaintextSize, int64(math.MaxInt)-2*envelope.TagSize))
}

// readPiece is how much readAndHash reads before hashing: small enough
// for the piece to be in cache when it is hashed.
const readPiece = 256 << 10

// readAndHash reads a GCM body into a pooled buffer and hashes its
// ciphertext as it arrives; it returns the ciphertext (the buffer, without
// the tag) and the tag. size is the body's length when known, or −1; it is
// a claim of the server, so it sizes the first buffer only up to the limit,
// and the buffer grows (to the next size class) when more bytes arrive.
// (Whether the body has exactly the announced length is the caller's
// check.) An idle pooled buffer of the announced size is taken at once
// (it is resident already); a new one holds at most untrustedFirst bytes
// until they arrived, and then grows to at most growTrust times what
// arrived, so that a server announcing more than it sends commits little
// memory. On an error the buffer is back in the pool.
func readAndHash(body io.Reader, limit, size int64, part *gcmstream.Part) (ct []byte, tag [envelope.TagSize]byte, err error) {
	most := limit + envelope.TagSize // the longest body allowed
	first := int64(firstBuffer)
	if size > 0 {
		first = size
	}
	first = min(first, most)
	buf, warm := buffers.takeIdle(first), true
	if buf == nil {
		buf, warm = buffers.get(min(first, untrustedFirst))
	}
	pf := startPrefault(buf, warm)
	defer func() {
		pf.stop()
		if err != nil {
			buffers.put(buf)
		}
	}()
	hashed := 0
	for {
		var n int
		var rerr error
		// The buffer ends at its capacity or at the limit, whichever
		// comes first (a size class may be larger than the limit).
		if end := int(min(int64(cap(buf)), most)); len(buf) < end {
			n, rerr = streamio.ReadFull(body, buf[len(buf):min(end, len(buf)+readPiece)])
			buf = buf[:len(buf)+n]
			pf.ahead(len(buf))
		} else {
			// Full: with a known size the body ends here. Probe one
			// byte before growing the buffer.
			var one [1]byte
			n, rerr = streamio.ReadFull(body, one[:])
			if n > 0 {
				if int64(len(buf)) >= most {
					return nil, tag, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
				}
				pf.stop()
				buf, warm = growPooled(buf, most, size)
				buf = append(buf, one[0])
				pf = startPrefault(buf, warm)
			}
		}
		if end := len(buf) - envelope.TagSize; end > hashed {
			part.Hash(buf[hashed:end])
			hashed = end
		}
		switch {
		case rerr == io.EOF:
			if len(buf) < envelope.TagSize {
				return nil, tag, envelope.ErrAuthentication
			}
			copy(tag[:], buf[len(buf)-envelope.TagSize:])
			return buf[:len(buf)-envelope.TagSize], tag, nil
		case rerr != nil:
			return nil, tag, rerr
		}
	}
}

// untrustedFirst is the most readAndHash allocates for a body before its
// bytes arrive, whatever length the server announced; growTrust bounds
// each growth after that: to the announced size, but at most growTrust
// times the bytes received.
const (
	untrustedFirst = 8 << 20
	growTrust      = 8
)

// growPooled moves the full buffer b to a larger one (the next size class,
// or up to size, the announced body length, when that is within growTrust
// times len(b); at most most bytes long) and gives b back to the pool. It
// says whether the new buffer came from the pool.
func growPooled(b []byte, most, size int64) ([]byte, bool) {
	pt := int64(cap(b)) - envelope.TagSize
	want := 2*pt + envelope.TagSize
	if size > want {
		want = min(size, growTrust*pt+envelope.TagSize)
	}
	nb, warm := buffers.get(max(min(want, most), int64(cap(b))+1))
	nb = append(nb, b...)
	buffers.put(b)
	return nb, warm
}

// verifiedReader decrypts authenticated ciphertext held in memory as it is
// read. Close may run concurrently with Read (to abort a reader, as with
// an HTTP body): the lock makes sure the buffer goes back to the pool only
// once no Read uses it.
type verifiedReader struct {
	mu     sync.Mutex
	ks     cipher.Stream
	buf    []byte // the pooled buffer; nil once given back
	ct     []byte // what is left to decrypt, in buf
	closed bool
}

func (r *verifiedReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errReadAfterClose
	}
	if len(r.ct) == 0 {
		r.release()
		return 0, io.EOF
	}
	n := min(len(p), len(r.ct))
	r.ks.XORKeyStream(p[:n], r.ct[:n])
	r.ct = r.ct[n:]
	return n, nil
}

// release gives the buffer back to the pool, once, after dropping every
// reference to it. r.mu is held.
func (r *verifiedReader) release() {
	if r.buf != nil {
		b := r.buf
		r.buf, r.ct = nil, nil
		buffers.put(b)
	}
}

// Close gives the ciphertext buffer back; reads after Close fail.
func (r *verifiedReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
	r.ks, r.closed = nil, true
	return nil
}
