//go:build !purego

package fipstest

const purego = false
