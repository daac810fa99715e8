package gcmstream

import "errors"

// ErrAuthentication reports a GCM tag that does not match: the ciphertext,
// the tag, the IV, the AAD or the key is wrong. It never says which.
var ErrAuthentication = errors.New("s3ec: message authentication failed")

// ErrTooLarge reports a plaintext longer than MaxPlaintextSize, the most
// GCM can encrypt under one nonce.
var ErrTooLarge = errors.New("s3ec: plaintext too large for AES-GCM")
