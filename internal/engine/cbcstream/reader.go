package cbcstream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"io"
	"sync"

	"github.com/s3ec/s3ec-go/internal/engine/streamio"
)

const (
	blockSize = aes.BlockSize

	// bufSize is the size of the pooled working buffer, a multiple of
	// blockSize; two more blocks hold what is carried between reads.
	bufSize = 64 << 10
)

type buffer = [bufSize + 2*blockSize]byte

var bufPool = sync.Pool{New: func() any { return new(buffer) }}

var errClosed = errors.New("cbcstream: read after Close")

// DecryptReader decrypts an AES-CBC ciphertext with PKCS#7 padding as it is
// read. It holds back the last ciphertext block until the end of the input
// to strip the padding. The plaintext it returns is not authenticated.
type DecryptReader struct {
	mode  cipher.BlockMode
	bare  bool // no padding: a run of whole blocks from inside a ciphertext
	src   io.Reader
	buf   *buffer
	loop  streamio.Loop // holds the plaintext not yet returned, in buf
	hold  [2 * blockSize]byte
	nh    int // bytes in hold: the last block read and a partial one
	total int64
}

// NewDecryptReader returns a reader of the plaintext of ciphertext, which
// was encrypted with AES-CBC under key (16, 24 or 32 bytes) and the 16-byte
// iv, with PKCS#7 padding. Reads fail with ErrInvalidCiphertext if the
// ciphertext is empty, is not a whole number of blocks or ends in invalid
// padding; errors from ciphertext are returned as they are. Read returns
// io.EOF only after the padding checked; it keeps returning an error once
// one occurred. Memory use is constant: one pooled 64 KiB buffer, returned
// at the end, on error or on Close.
//
// CBC is not authenticated: the plaintext may have been tampered with, and
// whether the padding is valid is revealed (though which byte is wrong is
// not: the check runs in constant time).
func NewDecryptReader(key, iv []byte, ciphertext io.Reader) (*DecryptReader, error) {
	if len(iv) != blockSize {
		return nil, errors.New("cbcstream: IV must be 16 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("cbcstream: key must be 16, 24 or 32 bytes")
	}
	return &DecryptReader{mode: cipher.NewCBCDecrypter(block, iv), src: ciphertext}, nil
}

// NewBlockDecryptReader returns a reader of the plaintext of a run of
// whole ciphertext blocks taken from inside an AES-CBC ciphertext, without
// its last block: iv is the ciphertext block before the run (or the
// ciphertext's IV when the run starts at its first block), and no padding
// is stripped or checked. A run that is empty or not a whole number of
// blocks fails with ErrInvalidCiphertext. It is otherwise a DecryptReader
// (the same buffering, errors and Close); use NewDecryptReader for a run
// that ends with the ciphertext's last block.
func NewBlockDecryptReader(key, iv []byte, ciphertext io.Reader) (*DecryptReader, error) {
	r, err := NewDecryptReader(key, iv, ciphertext)
	if err != nil {
		return nil, err
	}
	r.bare = true
	return r, nil
}

// Read implements io.Reader.
func (r *DecryptReader) Read(b []byte) (int, error) {
	return r.loop.Read(b, r.fill, r.release)
}

// fill decrypts the next piece of plaintext in the pooled buffer.
func (r *DecryptReader) fill([]byte) (int, []byte, error) {
	if r.buf == nil {
		r.buf = bufPool.Get().(*buffer)
	}
	out, err := r.step(r.buf[:])
	return 0, out, err
}

// step reads into d behind the carried bytes and returns the plaintext it
// can release, and the error that ends the stream after it (io.EOF at the
// end of a valid ciphertext).
func (r *DecryptReader) step(d []byte) ([]byte, error) {
	have := copy(d, r.hold[:r.nh])
	n, err := streamio.ReadFull(r.src, d[have:])
	have += n
	r.total += int64(n)
	if err == io.EOF {
		if r.total == 0 || have%blockSize != 0 {
			return nil, r.fail(ErrInvalidCiphertext)
		}
		r.mode.CryptBlocks(d[:have], d[:have])
		if r.bare {
			r.hold = [2 * blockSize]byte{}
			return d[:have], io.EOF
		}
		pad, ok := paddingLen(d[have-blockSize : have])
		if !ok {
			clear(d[:have])
			return nil, r.fail(ErrInvalidCiphertext)
		}
		r.hold = [2 * blockSize]byte{}
		return d[:have-pad], io.EOF
	}
	// Keep the last whole block and any partial one.
	keep := min(have, blockSize+have%blockSize)
	release := have - keep
	r.nh = copy(r.hold[:], d[release:have])
	r.mode.CryptBlocks(d[:release], d[:release])
	return d[:release], err
}

// paddingLen returns the PKCS#7 padding length of the last block and
// whether the padding is valid (1 to 16 bytes, all equal to the length), in
// constant time.
func paddingLen(last []byte) (int, bool) {
	pad := int(last[blockSize-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, blockSize)
	for i := range blockSize {
		inPad := subtle.ConstantTimeLessOrEq(blockSize-i, pad)
		same := subtle.ConstantTimeByteEq(last[i], byte(pad))
		good &= (inPad ^ 1) | same
	}
	return pad, good == 1
}

// fail forgets the carried bytes and returns err.
func (r *DecryptReader) fail(err error) error {
	r.hold = [2 * blockSize]byte{}
	r.nh = 0
	return err
}

func (r *DecryptReader) release() {
	if r.buf != nil {
		clear(r.buf[:])
		bufPool.Put(r.buf)
		r.buf = nil
	}
}

// Close returns the reader's buffer to the pool. Reads after Close fail.
// It does not close the ciphertext source.
func (r *DecryptReader) Close() error {
	r.loop.Stop(r.fail(errClosed))
	r.release()
	return nil
}
