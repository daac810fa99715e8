package objectcrypto

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"math"

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
	ct, tag, err := readAndHash(body, clampLimit(limit), size, part)
	if err != nil {
		return nil, err
	}
	if err := o.gcm.Verify(tag[:], part.Sum()); err != nil {
		return nil, envelope.ErrAuthentication
	}
	return &verifiedReader{ks: o.gcm.KeyStreamAt(0), ct: ct}, nil
}

// clampLimit bounds a buffer limit by what GCM can encrypt and what this
// platform can allocate, so that the arithmetic on it cannot overflow.
func clampLimit(limit int64) int64 {
	return max(0, min(limit, gcmstream.MaxPlaintextSize, int64(math.MaxInt)-2*envelope.TagSize))
}

// readPiece is how much readAndHash reads before hashing: small enough
// for the piece to be in cache when it is hashed.
const readPiece = 256 << 10

// readAndHash reads a GCM body into memory and hashes its ciphertext as it
// arrives; the last 16 bytes are the tag. size is the body's length when
// known, or −1; it is a claim of the server, so it never sizes more than
// the first buffer: the buffer doubles as bytes arrive, up to the limit.
// (Whether the body has exactly the announced length is the caller's
// check.)
func readAndHash(body io.Reader, limit, size int64, part *gcmstream.Part) (ct []byte, tag [envelope.TagSize]byte, err error) {
	most := limit + envelope.TagSize // the longest body allowed
	buf := make([]byte, 0, initialBuffer(most, size))
	hashed := 0
	for {
		var n int
		var rerr error
		// The buffer ends at its capacity or at the limit, whichever
		// comes first (slices.Grow may round the capacity up).
		if end := int(min(int64(cap(buf)), most)); len(buf) < end {
			n, rerr = streamio.ReadFull(body, buf[len(buf):min(end, len(buf)+readPiece)])
			buf = buf[:len(buf)+n]
		} else {
			// Full: with a known size the body ends here. Probe one
			// byte before growing the buffer.
			var one [1]byte
			n, rerr = streamio.ReadFull(body, one[:])
			if n > 0 {
				if int64(len(buf)) >= most {
					return nil, tag, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
				}
				buf = append(grow(buf, most), one[0])
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

// verifiedReader decrypts authenticated ciphertext held in memory as it is
// read.
type verifiedReader struct {
	ks     cipher.Stream
	ct     []byte
	closed bool
}

func (r *verifiedReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errReadAfterClose
	}
	if len(r.ct) == 0 {
		r.ct = nil // let the buffer go before Close
		return 0, io.EOF
	}
	n := min(len(p), len(r.ct))
	r.ks.XORKeyStream(p[:n], r.ct[:n])
	r.ct = r.ct[n:]
	return n, nil
}

// Close drops the ciphertext; reads after Close fail.
func (r *verifiedReader) Close() error {
	r.ct, r.ks, r.closed = nil, nil, true
	return nil
}
