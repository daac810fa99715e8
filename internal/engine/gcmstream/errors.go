package gcmstream

import "errors"

// ErrAuthentication reports a GCM tag that does not match: the ciphertext,
// the tag, the IV, the AAD or the key is wrong. It never says which.
//
// It is the one value of the authentication class: envelope,
// objectcrypto and encryptionclient re-export it under the same name.
var ErrAuthentication = errors.New("s3ec: message authentication failed")

// ErrTooLarge reports a size beyond its bound: here a plaintext longer than
// MaxPlaintextSize, the most GCM can encrypt under one nonce.
//
// It is the one value of the "too large" class: envelope, objectcrypto and
// encryptionclient re-export it for every other bound as well (a size read
// from the network beyond the GCM limit, a body beyond the buffer limit or
// longer than its announced length), wrapped with what was too large.
var ErrTooLarge = errors.New("s3ec: object too large")
