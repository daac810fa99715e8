// Package testhooks carries settings that only this repository's tests
// give the library. The client suite lives in another module (tests/), out
// of reach of an export_test.go file, so the hooks travel in a context.
//
// The package is compiled into the library, but as an internal package it
// can be imported only by packages of github.com/s3ec/s3ec-go and its
// nested modules; a user of the library cannot set these hooks.
package testhooks

import "context"

type partLimitsKey struct{}

type partLimits struct {
	minPart  int64
	maxParts int
}

// WithPartLimits returns a context that lowers the encryption client's
// multipart limits to minPart bytes per part (all but the last) and
// maxParts parts, for Upload, CreateMultipartUpload and UploadPart
// against servers that accept small parts.
func WithPartLimits(ctx context.Context, minPart int64, maxParts int) context.Context {
	return context.WithValue(ctx, partLimitsKey{}, partLimits{minPart: minPart, maxParts: maxParts})
}

// PartLimits returns the limits set by WithPartLimits; ok is false when
// ctx carries none.
func PartLimits(ctx context.Context) (minPart int64, maxParts int, ok bool) {
	l, ok := ctx.Value(partLimitsKey{}).(partLimits)
	return l.minPart, l.maxParts, ok
}
