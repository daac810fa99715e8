package gcmstream

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/s3ec/s3ec-go/internal/engine/streamio"
)

// bufSize is the size of the buffer a reader borrows when the caller's
// Read buffer is too small to work in place. It is a multiple of chunkSize.
const bufSize = 256 << 10

type buffer = [bufSize + TagSize]byte

var bufPool = sync.Pool{New: func() any { return new(buffer) }}

var errClosed = errors.New("gcmstream: read after Close")

// EncryptReader encrypts a plaintext stream; see Cipher.EncryptReader.
type EncryptReader struct {
	part  Part
	src   io.Reader
	buf   *buffer
	loop  streamio.Loop // holds what was produced but not yet returned: in buf or tag
	total int64         // plaintext bytes read
	tag   [TagSize]byte
}

// EncryptReader returns a reader of the message's ciphertext followed by
// its 16-byte tag, byte for byte what crypto/cipher's GCM Seal returns for
// the whole plaintext, produced in constant memory. If plaintext yields
// more than MaxPlaintextSize bytes, Read fails with ErrTooLarge; errors
// from plaintext are returned as they are.
//
// Reads of at least 64 KiB are served in place, without copying; smaller
// reads go through a pooled 256 KiB buffer, which the reader returns when
// it reaches the end, fails, or is closed.
func (c *Cipher) EncryptReader(plaintext io.Reader) *EncryptReader {
	return &EncryptReader{part: Part{c: c}, src: plaintext}
}

// Read implements io.Reader.
func (r *EncryptReader) Read(b []byte) (int, error) {
	return r.loop.Read(b, r.produce, r.release)
}

// produce encrypts the next piece of plaintext: whole one-pass chunks in
// the caller's buffer b, smaller reads through the pooled buffer, so that
// encryption stays on the faster one-pass route. At the end the tag
// follows.
func (r *EncryptReader) produce(b []byte) (int, []byte, error) {
	inPlace := len(b) >= sealChunk
	var dst []byte
	if inPlace {
		dst = b[:len(b)&^(sealChunk-1)]
	} else {
		if r.buf == nil {
			r.buf = bufPool.Get().(*buffer)
		}
		dst = r.buf[:bufSize]
	}
	n, err := r.fill(dst)
	if n > 0 {
		r.part.Encrypt(dst[:n], dst[:n])
	}
	var tag []byte
	if err == io.EOF {
		if err = r.finish(); err == nil {
			tag, err = r.tag[:], io.EOF
		}
	}
	if inPlace {
		return n, tag, err
	}
	return 0, append(dst[:n], tag...), err // the tag fits in buf's spare TagSize bytes
}

// fill reads plaintext into dst, enforcing the size limit.
func (r *EncryptReader) fill(dst []byte) (int, error) {
	if room := r.part.c.max - r.total + 1; int64(len(dst)) > room {
		dst = dst[:room]
	}
	n, err := streamio.ReadFull(r.src, dst)
	r.total += int64(n)
	if r.total > r.part.c.max {
		clear(dst[:n])
		return 0, ErrTooLarge
	}
	return n, err
}

// finish computes the tag into r.tag.
func (r *EncryptReader) finish() error {
	tag, err := r.part.c.Tag(r.part.Sum())
	if err != nil {
		return err
	}
	r.tag = tag
	r.part.wipe()
	return nil
}

func (r *EncryptReader) release() {
	if r.buf != nil {
		clear(r.buf[:])
		bufPool.Put(r.buf)
		r.buf = nil
	}
	clear(r.tag[:])
}

// Close returns the reader's buffer to the pool. Reads after Close fail.
// It does not close the plaintext source.
func (r *EncryptReader) Close() error {
	r.loop.Stop(errClosed)
	r.release()
	r.part.wipe()
	return nil
}

// DecryptReader decrypts a ciphertext‖tag stream; see
// Cipher.UnverifiedDecryptReader.
type DecryptReader struct {
	part  Part
	src   io.Reader
	buf   *buffer
	loop  streamio.Loop // holds the plaintext not yet returned, in buf
	hold  [TagSize]byte // the last bytes read so far: possibly the tag
	nh    int           // bytes in hold
	total int64         // ciphertext and tag bytes read
}

// UnverifiedDecryptReader returns a reader of the plaintext of
// ciphertextAndTag (what crypto/cipher's GCM Seal produced). It works in
// constant memory and therefore RELEASES PLAINTEXT BEFORE THE TAG IS
// VERIFIED: the caller must not act on the data, or expose it, before Read
// has returned io.EOF. Only io.EOF means the whole message is authentic.
//
// The last 16 bytes of the input are held back as the tag. The final piece
// of plaintext is released only after the tag verified, then Read returns
// io.EOF. If the tag does not match, or the input is shorter than 16 bytes
// or longer than MaxPlaintextSize+16, Read returns ErrAuthentication
// instead, and keeps returning it. Errors from ciphertextAndTag are
// returned as they are.
//
// Reads of at least 16 KiB + 16 bytes are served in place; smaller reads
// go through a pooled buffer, which the reader returns when it reaches the
// end, fails, or is closed.
func (c *Cipher) UnverifiedDecryptReader(ciphertextAndTag io.Reader) *DecryptReader {
	return &DecryptReader{part: Part{c: c}, src: ciphertextAndTag}
}

// Read implements io.Reader.
func (r *DecryptReader) Read(b []byte) (int, error) {
	return r.loop.Read(b, r.produce, r.release)
}

// produce decrypts the next piece of ciphertext: in the caller's buffer b
// when it holds a whole chunk and a tag, otherwise in the pooled buffer.
func (r *DecryptReader) produce(b []byte) (int, []byte, error) {
	if len(b) >= chunkSize+TagSize {
		out, err := r.step(b[:(len(b)-TagSize)&^(chunkSize-1)+TagSize])
		return len(out), nil, err
	}
	if r.buf == nil {
		r.buf = bufPool.Get().(*buffer)
	}
	out, err := r.step(r.buf[:])
	return 0, out, err
}

// step reads into d, behind the held-back bytes, and returns the plaintext
// it can release (a prefix of d) and the error that ends the stream after
// it (io.EOF once the tag verified).
func (r *DecryptReader) step(d []byte) ([]byte, error) {
	have := copy(d, r.hold[:r.nh])
	limit := r.part.c.max + TagSize
	if room := limit - r.total + 1; int64(len(d)-have) > room {
		d = d[:int64(have)+room]
	}
	n, err := streamio.ReadFull(r.src, d[have:])
	have += n
	r.total += int64(n)
	if r.total > limit {
		clear(d[:have])
		return nil, r.fail(ErrAuthentication)
	}
	if err == io.EOF {
		if have < TagSize {
			return nil, r.fail(ErrAuthentication)
		}
		body, tag := d[:have-TagSize], d[have-TagSize:have]
		r.part.Decrypt(body, body)
		if verr := r.part.c.Verify(tag, r.part.Sum()); verr != nil {
			clear(d[:have])
			return nil, r.fail(ErrAuthentication)
		}
		r.wipe()
		return body, io.EOF
	}
	if have < TagSize {
		r.nh = copy(r.hold[:], d[:have])
		return nil, err
	}
	body := d[:have-TagSize]
	r.nh = copy(r.hold[:], d[have-TagSize:have])
	r.part.Decrypt(body, body)
	return body, err
}

// fail wipes the reader's secret state and returns err.
func (r *DecryptReader) fail(err error) error {
	r.wipe()
	return err
}

func (r *DecryptReader) wipe() {
	r.part.wipe()
	r.hold = [TagSize]byte{}
	r.nh = 0
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
	r.loop.Stop(errClosed)
	r.release()
	r.wipe()
	return nil
}

// Format prints a placeholder, never the reader's secret state.
func (r *EncryptReader) Format(f fmt.State, verb rune) { fmt.Fprint(f, "gcmstream.EncryptReader{…}") }

// Format prints a placeholder, never the reader's secret state.
func (r *DecryptReader) Format(f fmt.State, verb rune) { fmt.Fprint(f, "gcmstream.DecryptReader{…}") }
