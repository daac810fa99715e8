package cbcstream

import "errors"

// ErrInvalidCiphertext reports a CBC body whose length is not a positive
// multiple of the block size, or whose PKCS#7 padding is invalid.
var ErrInvalidCiphertext = errors.New("s3ec: invalid CBC ciphertext (length or padding)")
