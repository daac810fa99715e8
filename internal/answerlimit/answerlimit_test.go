package answerlimit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

var errClass = errors.New("class")

// A body of exactly the limit reads whole; one byte more fails, typed,
// unwrapping to the class, not retryable, and never more than the limit
// is handed out.
func TestBodyBoundary(t *testing.T) {
	const limit = 1000
	for _, n := range []int{0, 1, limit - 1, limit, limit + 1, 10 * limit} {
		got, err := io.ReadAll(NewBody(io.NopCloser(bytes.NewReader(make([]byte, n))), limit, errClass))
		if n <= limit {
			if err != nil || len(got) != n {
				t.Fatalf("%d bytes: read %d, %v", n, len(got), err)
			}
			continue
		}
		var tl *TooLargeError
		if !errors.As(err, &tl) || tl.Limit != limit || !errors.Is(err, errClass) || tl.RetryableError() {
			t.Fatalf("%d bytes: %v, want a non-retryable *TooLargeError of class %v", n, err, errClass)
		}
		if len(got) > limit {
			t.Fatalf("%d bytes: %d handed out, more than the limit", n, len(got))
		}
	}
}

// The failure sticks, and a read of nothing past the limit does not probe.
func TestBodyAfterFailure(t *testing.T) {
	b := NewBody(io.NopCloser(bytes.NewReader(make([]byte, 20))), 10, nil)
	if _, err := io.ReadAll(b); err == nil || err.Error() != "the answer body exceeds 10 bytes" {
		t.Fatalf("err = %v", err)
	}
	if n, err := b.Read(make([]byte, 5)); n != 0 || err == nil {
		t.Fatalf("after the failure: %d, %v", n, err)
	}
	e := NewBody(io.NopCloser(bytes.NewReader(make([]byte, 20))), 1, nil)
	if _, err := e.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read at the limit: %d, %v", n, err)
	}
}

// badReader claims more bytes than it was given room for.
type badReader struct{}

func (badReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestBodyInvalidCount(t *testing.T) {
	b := NewBody(io.NopCloser(badReader{}), 10, errClass)
	if _, err := b.Read(make([]byte, 4)); !errors.Is(err, ErrInvalidCount) {
		t.Fatalf("err = %v", err)
	}
}

// The middleware bounds each answer by the limit chosen for its status,
// and leaves it alone when the limit is 0.
func TestMiddlewareChoosesByStatus(t *testing.T) {
	limit := func(_ context.Context, status int) int64 {
		if status >= 300 {
			return 8
		}
		return 0
	}
	m := Middleware("test", limit, errClass)
	for _, tc := range []struct {
		status, size int
		fail         bool
	}{{200, 100, false}, {404, 8, false}, {404, 9, true}, {503, 100, true}} {
		next := middleware.DeserializeHandlerFunc(func(context.Context, middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
			resp := &smithyhttp.Response{Response: &http.Response{StatusCode: tc.status, Body: io.NopCloser(bytes.NewReader(make([]byte, tc.size)))}}
			return middleware.DeserializeOutput{RawResponse: resp}, middleware.Metadata{}, nil
		})
		out, _, err := m.HandleDeserialize(context.Background(), middleware.DeserializeInput{}, next)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(out.RawResponse.(*smithyhttp.Response).Body)
		if tc.fail != (err != nil) || (!tc.fail && len(got) != tc.size) {
			t.Errorf("status %d, %d bytes: read %d, %v", tc.status, tc.size, len(got), err)
		}
	}
}

// Add puts the middleware last in the Deserialize step, below whatever
// was there (the SDK's deserializers).
func TestAddPlacesLast(t *testing.T) {
	stack := middleware.NewStack("op", smithyhttp.NewStackRequest)
	if err := stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("deserializer", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		return next.HandleDeserialize(ctx, in)
	}), middleware.After); err != nil {
		t.Fatal(err)
	}
	if err := Add("bound", Fixed(1), nil)(stack); err != nil {
		t.Fatal(err)
	}
	ids := stack.Deserialize.List()
	if len(ids) != 2 || ids[1] != "bound" {
		t.Fatalf("Deserialize step: %v", ids)
	}
}
