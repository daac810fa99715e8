// Package fipsmode holds the library's one error class for operations that
// FIPS 140-3 mode refuses, and the checks behind it.
//
// Under GODEBUG=fips140=only the Go Cryptographic Module refuses algorithms
// and uses it does not approve: GCM with a nonce chosen outside the module,
// RSA PKCS #1 v1.5 encryption, SHA-1 (with RSA-OAEP as well), RSA keys
// below 2048 bits. The library checks for these before it calls the
// module, so that such an operation fails with an error of this class
// (materials.ErrFIPS) instead of a panic or an unexplained failure.
package fipsmode

import (
	"crypto/fips140"
	"errors"
)

// ErrRefused is the class of every *Error. materials.ErrFIPS is this value.
var ErrRefused = errors.New("s3ec: not allowed in FIPS 140-only mode")

// Error reports an operation refused because the program runs in FIPS
// 140-only mode (GODEBUG=fips140=only). What names the algorithm or use.
type Error struct {
	What string
	Err  error // the module's own refusal, if it gave one
}

func (e *Error) Error() string {
	s := "s3ec: " + e.What + " is not allowed in FIPS 140-only mode (GODEBUG=fips140=only)"
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *Error) Is(target error) bool { return target == ErrRefused }

// Unwrap returns the module's refusal.
func (e *Error) Unwrap() error { return e.Err }

// Refuse returns an *Error for what if strict FIPS 140-3 enforcement is on
// (GODEBUG=fips140=only), and nil otherwise.
func Refuse(what string) error {
	if !fips140.Enforced() {
		return nil
	}
	return &Error{What: what}
}

// Enabled reports whether the program runs in FIPS 140-3 mode
// (GODEBUG=fips140=on or only): the library then uses only the Go
// Cryptographic Module for AES and GHASH, and none of its own vector
// kernels.
func Enabled() bool { return fips140.Enabled() }
