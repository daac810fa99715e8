//go:build purego

package fipstest

// The Go runtime refuses to start in FIPS 140-3 mode in a purego build.
const purego = true
