package encryptionclient

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// limitedBody passes a body of exactly the limit whole, and fails the read
// past it with ErrBadResponse (not retryable) once one more byte shows the
// body is longer; it never hands out more than the limit.
func TestAttackLimitedBodyBoundary(t *testing.T) {
	const limit = 1000
	for _, n := range []int{0, 1, limit - 1, limit, limit + 1, 10 * limit} {
		body := &limitedBody{rc: io.NopCloser(bytes.NewReader(make([]byte, n))), left: limit, limit: limit}
		got, err := io.ReadAll(body)
		if n <= limit {
			if err != nil || len(got) != n {
				t.Fatalf("%d bytes: read %d, %v", n, len(got), err)
			}
			continue
		}
		var tl *responseTooLargeError
		if !errors.Is(err, ErrBadResponse) || !errors.As(err, &tl) || tl.RetryableError() {
			t.Fatalf("%d bytes: %v, want a non-retryable ErrBadResponse", n, err)
		}
		if len(got) > limit {
			t.Fatalf("%d bytes: %d handed out, more than the limit", n, len(got))
		}
	}
}
