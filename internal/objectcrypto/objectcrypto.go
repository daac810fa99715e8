// Package objectcrypto encrypts and decrypts one S3 object: it joins the
// envelope (what is stored beside the body), a keyring (the data key) and
// the streaming engines (the body). It does no S3 I/O; the encryption
// client feeds it metadata, instruction files and bodies.
package objectcrypto

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/cbcstream"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
	"github.com/s3ec/s3ec-go/materials"
)

// Sealer encrypts the body of one new object. Its reader may be created
// again from the start (for a retried request): the same plaintext then
// gives the same ciphertext.
type Sealer struct {
	Envelope *envelope.Envelope
	cipher   *gcmstream.Cipher
	token    cipher.AEAD // resume tokens (NewResumableSealer); nil otherwise
}

// NewSealer obtains a fresh data key from kr for the policy's suite, builds
// the envelope and the content cipher. plaintextLength is recorded in the
// envelope where the format keeps it (-1 when unknown).
func NewSealer(ctx context.Context, kr materials.Keyring, policy envelope.Policy, encCtx map[string]string, plaintextLength int64) (*Sealer, error) {
	return newSealer(ctx, kr, policy, encCtx, plaintextLength, false)
}

func newSealer(ctx context.Context, kr materials.Keyring, policy envelope.Policy, encCtx map[string]string, plaintextLength int64, resumable bool) (*Sealer, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	suite := policy.EncryptSuite()
	if plaintextLength > envelope.MaxGCMPlaintextSize {
		return nil, fmt.Errorf("%w: plaintext of %d bytes exceeds the GCM limit of %d bytes", ErrTooLarge, plaintextLength, int64(envelope.MaxGCMPlaintextSize))
	}
	dk, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: suite, EncryptionContext: encCtx, PlaintextLength: plaintextLength})
	if err != nil {
		return nil, err
	}
	defer dk.Zero()
	if len(dk.Plaintext) != envelope.DataKeySize {
		return nil, fmt.Errorf("the keyring (%T) returned a %d-byte data key, want %d", kr, len(dk.Plaintext), envelope.DataKeySize)
	}
	env, params, err := envelope.NewForEncryption(suite, dk.WrapAlgorithm, dk.Ciphertext, dk.Description, dk.Plaintext, plaintextLength)
	if err != nil {
		return nil, err
	}
	defer params.Zero()
	c, err := gcmstream.New(params.Key, params.Nonce, params.AAD)
	if err != nil {
		return nil, err
	}
	s := &Sealer{Envelope: env, cipher: c}
	if resumable {
		if s.token, err = tokenAEAD(dk.Plaintext); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Reader returns the ciphertext (and tag) of plaintext. An error of
// plaintext, also one returned with its last bytes, is returned as it is,
// and the tag is then never produced. The caller checks that plaintext
// has the declared length and, if it reads it more than once, that it
// gives the same bytes every time.
func (s *Sealer) Reader(plaintext io.Reader) io.Reader {
	return s.cipher.EncryptReader(plaintext)
}

// DecryptOptions control how an object is opened.
type DecryptOptions struct {
	// Policy decides which suites may be read.
	Policy envelope.Policy
	// EncryptionContext is the context the caller expects (KMS keyrings).
	EncryptionContext map[string]string
}

// Opener decrypts the body of one stored object.
type Opener struct {
	Envelope *envelope.Envelope
	gcm      *gcmstream.Cipher // GCM suites
	cbcKey   []byte            // CBC suite
}

// Open checks env against the policy, then unwraps the data key with kr,
// checks the key commitment (V3) and prepares the content cipher. The
// algorithm is checked before any key is unwrapped.
func Open(ctx context.Context, kr materials.Keyring, opts DecryptOptions, env *envelope.Envelope) (*Opener, error) {
	dataKey, err := unwrapDataKey(ctx, kr, opts, env)
	if err != nil {
		return nil, err
	}
	defer materials.Zero(dataKey)
	params, err := env.ContentParams(dataKey)
	if err != nil {
		return nil, err
	}
	o := &Opener{Envelope: env}
	if env.Suite == envelope.SuiteAESCBC {
		o.cbcKey = params.Key // kept until the body is read; zeroed by Close
		return o, nil
	}
	defer params.Zero()
	if o.gcm, err = gcmstream.New(params.Key, params.Nonce, params.AAD); err != nil {
		return nil, err
	}
	return o, nil
}

// unwrapDataKey checks env against the policy, then unwraps its data key
// with kr. The caller zeroes the key.
func unwrapDataKey(ctx context.Context, kr materials.Keyring, opts DecryptOptions, env *envelope.Envelope) ([]byte, error) {
	if err := opts.Policy.CheckDecrypt(env.Suite); err != nil {
		return nil, err
	}
	dataKey, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{
		Suite: env.Suite,
		Key: materials.EncryptedDataKey{
			WrapAlgorithm: env.WrapAlgorithm,
			Ciphertext:    env.EncryptedKey,
			Description:   env.Description,
		},
		EncryptionContext: opts.EncryptionContext,
	})
	if err != nil {
		return nil, err
	}
	if len(dataKey) != envelope.DataKeySize {
		materials.Zero(dataKey)
		return nil, fmt.Errorf("%w: the keyring (%T) returned a %d-byte data key", materials.ErrUnwrap, kr, len(dataKey))
	}
	return dataKey, nil
}

// Close zeroes key material the opener still holds.
func (o *Opener) Close() { clear(o.cbcKey) }

// Format prints a placeholder, never the opener's keys: fmt would print
// the CBC key, a plain byte slice, whole.
func (o *Opener) Format(f fmt.State, verb rune) { fmt.Fprint(f, "objectcrypto.Opener{…}") }

// Format prints a placeholder, never the sealer's cipher or token key.
func (s *Sealer) Format(f fmt.State, verb rune) { fmt.Fprint(f, "objectcrypto.Sealer{…}") }

// Authenticated reports whether the object's content is authenticated
// (AES-GCM), as opposed to legacy AES-CBC, which has no tag.
func (o *Opener) Authenticated() bool { return o.gcm != nil }

// UnverifiedReader decrypts body as a stream. For GCM objects the plaintext
// is handed out before the tag is checked: the final Read returns
// [envelope.ErrAuthentication] when the body was altered, and the caller
// must discard what it read. CBC objects have no tag at all: their padding
// is checked at the end, and so is the plaintext length the envelope
// records, when it records one (a body cut at a block boundary can end in
// valid-looking padding; the recorded length catches it).
//
// Close the reader when done with it, read to the end or not: Close wipes
// what it still holds (plaintext not yet returned, the hash state) and
// gives its buffer back to the pool. It does not close body, and it must
// not run concurrently with Read.
func (o *Opener) UnverifiedReader(body io.Reader) (io.ReadCloser, error) {
	if o.gcm != nil {
		return o.gcm.UnverifiedDecryptReader(body), nil
	}
	r, err := cbcstream.NewDecryptReader(o.cbcKey, o.Envelope.IV, body)
	if err != nil {
		return nil, err
	}
	if o.Envelope.PlaintextLength < 0 {
		return r, nil
	}
	return &lengthReader{r: r, want: o.Envelope.PlaintextLength}, nil
}

// lengthReader checks that a CBC plaintext has the length its envelope
// records.
type lengthReader struct {
	r    io.ReadCloser
	want int64
	got  int64
	err  error
}

// Close closes the decrypting reader.
func (l *lengthReader) Close() error { return l.r.Close() }

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	l.got += int64(n)
	switch {
	case l.got > l.want:
		l.err = &envelope.MalformedError{Field: envelope.KeyUnencryptedLength, Reason: fmt.Sprintf("the body holds more than the %d bytes of plaintext recorded", l.want)}
		return 0, l.err
	case err == io.EOF && l.got < l.want:
		l.err = fmt.Errorf("%w: %d of the %d bytes of plaintext recorded: %w", ErrTruncated, l.got, l.want,
			&envelope.MalformedError{Field: envelope.KeyUnencryptedLength, Reason: "longer than the body"})
		return 0, l.err
	case err != nil:
		l.err = err
	}
	return n, err
}

// ErrTooLarge is the class of every size beyond its bound; see
// [envelope.ErrTooLarge] (the same value).
var ErrTooLarge = envelope.ErrTooLarge

// ErrTruncated is the class of bodies shorter than announced; see
// [envelope.ErrTruncated] (the same value).
var ErrTruncated = envelope.ErrTruncated

// ReadVerified decrypts the whole body into memory and returns the plaintext
// only after the tag verified; on any error it returns no plaintext. Bodies
// whose plaintext would exceed limit bytes fail with [ErrTooLarge]. sizeHint
// is the body's length when known, or 0: it is a claim of the server, so it
// only caps the buffer's growth; the buffer grows as bytes arrive.
func (o *Opener) ReadVerified(body io.Reader, limit, sizeHint int64) ([]byte, error) {
	r, err := o.UnverifiedReader(body)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	limit = clampLimit(limit)
	buf := make([]byte, 0, initialBuffer(limit, sizeHint))
	for {
		if int64(len(buf)) >= limit {
			// At the limit: the body must end here, or it is too large.
			var one [1]byte
			n, err := io.ReadFull(r, one[:])
			if n == 0 && err == io.EOF {
				return buf, nil
			}
			clear(buf)
			if n == 0 && err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
		}
		if len(buf) == cap(buf) {
			if int64(len(buf)) == sizeHint {
				// The size the server claimed is reached: look for the end
				// before the buffer doubles for nothing.
				var one [1]byte
				n, err := io.ReadFull(r, one[:])
				if n == 0 && err == io.EOF {
					return buf, nil
				}
				if n == 0 {
					clear(buf)
					return nil, err
				}
				buf = append(grow(buf, limit), one[0])
				continue
			}
			buf = grow(buf, limit)
		}
		end := int(min(int64(cap(buf)), limit))
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			clear(buf)
			return nil, err
		}
	}
}

// initialBuffer is the first capacity of a buffer for a body of size
// bytes (a claim of the server, or ≤ 0 when unknown) that may not exceed
// most: no more than firstBuffer is allocated before any byte arrived.
func initialBuffer(most, size int64) int {
	if size <= 0 {
		size = firstBuffer
	}
	return int(min(size, most, firstBuffer))
}

// firstBuffer is the most a buffered read allocates before the body's
// bytes arrive; the buffer then doubles as they do.
const firstBuffer = 1 << 20

// grow doubles the capacity of the full buffer b, up to most bytes; the
// old buffer is wiped (it may hold plaintext).
func grow(b []byte, most int64) []byte {
	n := int(min(int64(max(cap(b), 4096)), most-int64(len(b))))
	if n <= 0 || cap(b)-len(b) >= n {
		return b
	}
	nb := slices.Grow(b, n)
	clear(b[:cap(b)])
	return nb
}

// RangeReader decrypts a ciphertext range that starts at plaintext offset
// off, without authentication (CTR only). GCM objects only.
func (o *Opener) RangeReader(body io.Reader, off int64) (io.Reader, error) {
	if o.gcm == nil {
		return nil, &envelope.PolicyError{What: "ranged reads of CBC objects"}
	}
	return streamReader{s: o.gcm.KeyStreamAt(off), r: body}, nil
}

// CBCRangeReader decrypts the body bytes cr.Body of a CBC object (see
// [envelope.CBCCiphertextRange]) and returns the cr.Len bytes of plaintext
// at cr.Skip in them, without authentication. The IV block, when the body
// holds one, is read before it returns. When cr.ToEnd the padding is
// checked ([envelope.ErrInvalidCiphertext]) and the plaintext must end
// exactly after the range: more or less is an [*envelope.MalformedError]
// (the length it was computed from, x-amz-unencrypted-content-length or an
// earlier read of the last block, does not hold), found before the range's
// last bytes are released. The key is copied: the opener may be closed.
func (o *Opener) CBCRangeReader(body io.Reader, cr envelope.CBCRange) (io.Reader, error) {
	if o.gcm != nil || len(o.cbcKey) == 0 {
		return nil, errors.New("CBC range read of an object that is not CBC")
	}
	if cr.Skip < 0 || cr.Skip > 15 || (cr.Len < 0 && (cr.Len != -1 || !cr.ToEnd || cr.Skip != 0)) {
		return nil, fmt.Errorf("invalid CBC range %+v", cr)
	}
	iv := o.Envelope.IV
	if cr.IVInBody {
		iv = make([]byte, 16)
		if _, err := io.ReadFull(body, iv); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%w: no IV block", ErrTruncated)
			}
			return nil, err
		}
	}
	var r *cbcstream.DecryptReader
	var err error
	if cr.ToEnd {
		r, err = cbcstream.NewDecryptReader(o.cbcKey, iv, body)
	} else {
		r, err = cbcstream.NewBlockDecryptReader(o.cbcKey, iv, body)
	}
	if err != nil {
		return nil, err
	}
	return &cbcRangeReader{r: r, skip: cr.Skip, left: cr.Len, toEnd: cr.ToEnd}, nil
}

type cbcRangeReader struct {
	r     *cbcstream.DecryptReader
	skip  int64
	left  int64 // -1: to the end
	toEnd bool
	err   error
}

func (c *cbcRangeReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.skip > 0 {
		var junk [16]byte
		n, err := c.r.Read(junk[:c.skip])
		clear(junk[:])
		c.skip -= int64(n)
		if err == io.EOF {
			return 0, c.fail(shortCBC())
		}
		if err != nil {
			return 0, c.fail(err)
		}
	}
	if c.left == 0 {
		return 0, c.end()
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.left > 0 && int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	switch {
	case err == io.EOF && c.left < 0: // all to the end: done
		c.err = io.EOF
		return n, io.EOF
	case err == io.EOF && int64(n) < c.left:
		clear(p[:n])
		return 0, c.fail(shortCBC())
	case err != nil && err != io.EOF:
		clear(p[:n])
		return 0, c.fail(err)
	}
	if c.left > 0 {
		c.left -= int64(n)
		if c.left == 0 && c.toEnd {
			// The plaintext must end here: check that before the
			// range's last bytes leave.
			if err := c.end(); err != io.EOF {
				clear(p[:n])
				return 0, err
			}
			return n, nil
		}
	}
	return n, nil
}

// end is the end of the range: for one that ends the object, the
// decryption must end too (the padding then checked).
func (c *cbcRangeReader) end() error {
	if c.toEnd {
		var one [1]byte
		n, err := c.r.Read(one[:])
		clear(one[:])
		switch {
		case n > 0:
			return c.fail(&envelope.MalformedError{Field: envelope.KeyUnencryptedLength, Reason: "the body holds more plaintext than the length the range was computed from"})
		case err != io.EOF:
			if err == nil {
				err = io.ErrNoProgress
			}
			return c.fail(err)
		}
	}
	c.err = io.EOF
	return io.EOF
}

func (c *cbcRangeReader) fail(err error) error {
	c.err = err
	c.r.Close()
	return err
}

func shortCBC() error {
	return fmt.Errorf("%w: %w", ErrTruncated, &envelope.MalformedError{Field: envelope.KeyUnencryptedLength, Reason: "the body holds less plaintext than the length the range was computed from"})
}

type streamReader struct {
	s interface{ XORKeyStream(dst, src []byte) }
	r io.Reader
}

func (s streamReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.s.XORKeyStream(p[:n], p[:n])
	return n, err
}
