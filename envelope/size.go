package envelope

import (
	"fmt"
	"strconv"
	"strings"
)

// CiphertextLength returns the stored body length of a plaintext of n bytes
// under suite, or an error when n is negative or exceeds the suite's limit.
func CiphertextLength(suite Suite, n int64) (int64, error) {
	if n < 0 {
		return 0, fmt.Errorf("envelope: negative plaintext length %d", n)
	}
	if suite.Authenticated() && n > MaxGCMPlaintextSize {
		return 0, fmt.Errorf("%w: plaintext of %d bytes exceeds the GCM limit of %d bytes", ErrTooLarge, n, int64(MaxGCMPlaintextSize))
	}
	return suite.CiphertextSize(n), nil
}

// CheckBodyLength checks the stored body length n of an object under suite
// (a Content-Length or Content-Range total read from S3) against what the
// format allows, before anything is sized from it: a GCM body holds at
// least the tag and at most MaxGCMPlaintextSize bytes of plaintext before
// it ([ErrTooLarge]); a CBC body is a positive multiple of 16 bytes
// ([ErrInvalidCiphertext]). plaintextLength is the length the envelope
// records (x-amz-unencrypted-content-length), or -1: for CBC, which has no
// other integrity, it must agree with n ([ErrMalformed]).
func CheckBodyLength(suite Suite, n, plaintextLength int64) error {
	switch {
	case n < 0:
		return fmt.Errorf("%w: negative body length %d", ErrMalformed, n)
	case suite.Authenticated():
		if n > MaxGCMPlaintextSize+TagSize {
			return fmt.Errorf("%w: body of %d bytes exceeds the GCM limit of %d bytes and its tag", ErrTooLarge, n, int64(MaxGCMPlaintextSize))
		}
		if n < TagSize {
			return ErrAuthentication
		}
	case suite == SuiteAESCBC:
		if n < 16 || n%16 != 0 {
			return fmt.Errorf("%w: body of %d bytes", ErrInvalidCiphertext, n)
		}
		if plaintextLength >= 0 && suite.CiphertextSize(plaintextLength) != n {
			return malformed(KeyUnencryptedLength, "plaintext length %d does not match a body of %d bytes", plaintextLength, n)
		}
	}
	return nil
}

// PlaintextLength returns the plaintext length of a GCM body of n bytes. For
// CBC the exact length depends on the padding, so it returns the largest
// possible length (n-1) and exact == false.
func PlaintextLength(suite Suite, n int64) (length int64, exact bool, err error) {
	switch {
	case suite.Authenticated():
		if n < TagSize {
			return 0, false, fmt.Errorf("envelope: body of %d bytes is shorter than the tag", n)
		}
		return n - TagSize, true, nil
	case suite == SuiteAESCBC:
		if n < 16 || n%16 != 0 {
			return 0, false, ErrInvalidCiphertext
		}
		return n - 1, false, nil
	}
	return 0, false, fmt.Errorf("envelope: unknown suite %v", suite)
}

// RangeError reports a Range that is invalid or cannot be satisfied.
type RangeError struct {
	Range  string
	Size   int64 // plaintext size of the object
	Reason string
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("envelope: range %q of a %d-byte object: %s", e.Range, e.Size, e.Reason)
}

// ByteRange is an inclusive plaintext byte range.
type ByteRange struct {
	First, Last int64
}

// Len returns the number of bytes in r.
func (r ByteRange) Len() int64 { return r.Last - r.First + 1 }

// ContentRange renders r as the value of a Content-Range header for an
// object of size bytes.
func (r ByteRange) ContentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", r.First, r.Last, size)
}

// ParseRange parses an HTTP Range header with one byte range (bytes=a-b,
// bytes=a- or bytes=-n) against a plaintext of size bytes, with the semantics
// of RFC 9110: the last position is clipped to the end; a first position at
// or past the end, or a zero-length suffix, cannot be satisfied.
func ParseRange(header string, size int64) (ByteRange, error) {
	bad := func(reason string) (ByteRange, error) {
		return ByteRange{}, &RangeError{Range: header, Size: size, Reason: reason}
	}
	spec, ok := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !ok {
		return bad("only byte ranges (bytes=…) are supported")
	}
	if strings.Contains(spec, ",") {
		return bad("multiple ranges are not supported")
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return bad("missing '-'")
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 || b[0] == '+' {
			return bad("invalid suffix length")
		}
		if n == 0 || size == 0 {
			return bad("unsatisfiable suffix range")
		}
		if n > size {
			n = size
		}
		return ByteRange{First: size - n, Last: size - 1}, nil
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 || a[0] == '+' {
		return bad("invalid first position")
	}
	last := size - 1
	if b != "" {
		last, err = strconv.ParseInt(b, 10, 64)
		if err != nil || last < 0 || b[0] == '+' {
			return bad("invalid last position")
		}
		if last < first {
			return bad("last position before first")
		}
		if last > size-1 {
			last = size - 1
		}
	}
	if first >= size {
		return bad("first position is past the end")
	}
	return ByteRange{First: first, Last: last}, nil
}

// CiphertextRange returns where the plaintext range r of a GCM object lies
// in its body, and how to decrypt it there without the rest of the object.
// GCM content is CTR mode, so plaintext byte i is body byte i: the body range
// equals r. Its first byte is in the block with the 32-bit GCM counter
// counter (data blocks start at counter 2), skip bytes into that block's
// keystream. Such a read is not authenticated.
func CiphertextRange(r ByteRange) (body ByteRange, counter uint32, skip int) {
	return r, uint32(2 + r.First/16), int(r.First % 16)
}

// CBCRange is where a plaintext range of an AES-CBC object lies in its
// body, and how to decrypt it there. CBC decrypts block j from ciphertext
// blocks j-1 and j (block -1 being the envelope's IV), so a range is read
// from one block before its first one; the padding is in the last block
// only, so it is stripped, and checked, only when the range reaches the
// end of the plaintext. Such a read is not authenticated.
type CBCRange struct {
	// Body is the body bytes to fetch, whole blocks.
	Body ByteRange
	// IVInBody reports that Body begins with the ciphertext block before
	// the first block to decrypt: its IV. Otherwise the range starts in
	// block 0, whose IV is the envelope's (x-amz-iv).
	IVInBody bool
	// Skip is the plaintext decrypted before the range's first byte.
	Skip int64
	// Len is the range's length, or -1 for all the plaintext up to the end
	// (CBCTailRange).
	Len int64
	// ToEnd reports that Body ends with the body's last block: the padding
	// is stripped and checked, and the plaintext must end right after the
	// range.
	ToEnd bool
}

// CBCCiphertextRange returns where the plaintext range r (as ParseRange
// returns it for size) of a CBC object lies in its body of ctLen bytes.
// size must be the object's plaintext length, one that a body of ctLen
// bytes can hold (ctLen-16 to ctLen-1: PKCS#7 adds 1 to 16 bytes).
func CBCCiphertextRange(r ByteRange, size, ctLen int64) (CBCRange, error) {
	if ctLen < 16 || ctLen%16 != 0 {
		return CBCRange{}, fmt.Errorf("%w: body of %d bytes", ErrInvalidCiphertext, ctLen)
	}
	if size < ctLen-16 || size > ctLen-1 {
		return CBCRange{}, malformed(KeyUnencryptedLength, "plaintext length %d does not match a body of %d bytes", size, ctLen)
	}
	if r.First < 0 || r.Last < r.First || r.Last >= size {
		return CBCRange{}, &RangeError{Range: fmt.Sprintf("bytes=%d-%d", r.First, r.Last), Size: size, Reason: "outside the object"}
	}
	first, last := r.First/16, r.Last/16 // blocks
	cr := CBCRange{Body: ByteRange{First: first * 16, Last: last*16 + 15}, Skip: r.First - first*16, Len: r.Len()}
	if first > 0 {
		cr.Body.First -= 16
		cr.IVInBody = true
	}
	if r.Last == size-1 {
		cr.Body.Last, cr.ToEnd = ctLen-1, true
	}
	return cr, nil
}

// CBCTailRange returns the read of the last block of a CBC body of ctLen
// bytes (with the block before it, its IV), to learn the plaintext length
// when the envelope does not record it: ctLen-16 plus the number of bytes
// the last block decrypts to once its padding is stripped and checked.
func CBCTailRange(ctLen int64) (CBCRange, error) {
	if ctLen < 16 || ctLen%16 != 0 {
		return CBCRange{}, fmt.Errorf("%w: body of %d bytes", ErrInvalidCiphertext, ctLen)
	}
	cr := CBCRange{Body: ByteRange{First: ctLen - 16, Last: ctLen - 1}, Len: -1, ToEnd: true}
	if ctLen > 16 {
		cr.Body.First -= 16
		cr.IVInBody = true
	}
	return cr, nil
}
