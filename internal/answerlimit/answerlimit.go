// Package answerlimit bounds the bodies of the answers of AWS SDK calls
// below the SDK's deserializers: the SDK copies an error answer's body
// whole into memory and decodes a success answer's XML or JSON whole, so
// a body read through this package fails, typed and not retried, once it
// goes past the bound chosen for it, before a decoder can allocate
// without end.
package answerlimit

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Limit chooses the most bytes the body of one answer may hold, from the
// context of the call (its stack values name the operation:
// awsmiddleware.GetOperationName) and the answer's HTTP status. 0 (or
// less) leaves the body unbounded.
type Limit func(ctx context.Context, status int) int64

// Fixed is the Limit of n bytes for every answer.
func Fixed(n int64) Limit {
	return func(context.Context, int) int64 { return n }
}

// Add returns a stack mutator (for an SDK client's Options.APIOptions)
// that adds [Middleware] with id at the end of the Deserialize step.
func Add(id string, limit Limit, class error) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(Middleware(id, limit, class), middleware.After)
	}
}

// Middleware returns a Deserialize-step middleware that wraps the body of
// every attempt's raw *smithyhttp.Response, as the HTTP client hands it
// over, in a body read at most limit(ctx, status) bytes far; beyond that
// the read fails with a *TooLargeError that unwraps to class. Added at the
// end of the step (middleware.After) it sits below every deserializer the
// SDK registered.
func Middleware(id string, limit Limit, class error) middleware.DeserializeMiddleware {
	return middleware.DeserializeMiddlewareFunc(id,
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil && resp.Response != nil && resp.Body != nil {
				if n := limit(ctx, resp.StatusCode); n > 0 {
					resp.Body = NewBody(resp.Body, n, class)
				}
			}
			return out, md, err
		})
}

// NewBody returns rc read at most limit bytes far: a body of exactly limit
// bytes reads whole and ends as rc ends; one byte more fails the read with
// a *TooLargeError (limit, class). It never hands out more than limit
// bytes. Close closes rc.
func NewBody(rc io.ReadCloser, limit int64, class error) io.ReadCloser {
	return &body{rc: rc, left: limit, limit: limit, class: class}
}

// ErrInvalidCount reports a reader that claimed to read a negative count,
// or more bytes than it was given room for.
var ErrInvalidCount = errors.New("answerlimit: invalid read count")

type body struct {
	rc          io.ReadCloser
	left, limit int64
	class       error
	err         error // sticky, once the bound is passed or rc misbehaved
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// One byte past the limit tells a body that ends there from a
		// longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		switch {
		case n < 0 || n > 1:
			b.err = ErrInvalidCount
			return 0, b.err
		case n == 1:
			b.err = &TooLargeError{Limit: b.limit, class: b.class}
			return 0, b.err
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	if n < 0 || n > len(p) {
		b.err = ErrInvalidCount
		return 0, b.err
	}
	b.left -= int64(n)
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }

// TooLargeError is an answer body longer than its bound: longer than any
// honest answer.
type TooLargeError struct {
	Limit int64 // the bound, in bytes
	class error
}

func (e *TooLargeError) Error() string {
	if e.class == nil {
		return fmt.Sprintf("the answer body exceeds %d bytes", e.Limit)
	}
	return fmt.Sprintf("%v: the answer body exceeds %d bytes", e.class, e.Limit)
}

// Unwrap returns the class error the bound was set with (nil if none).
func (e *TooLargeError) Unwrap() error { return e.class }

// RetryableError tells the SDK's retryer not to try again: the same
// server would most likely answer the same way.
func (e *TooLargeError) RetryableError() bool { return false }
