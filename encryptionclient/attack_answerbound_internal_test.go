package encryptionclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// readThrough runs the Deserialize middlewares optFn adds over an answer
// of status and n bytes for operation op, and reads the body they leave.
func readThrough(t *testing.T, optFn func(*s3.Options), op string, status, n int) ([]byte, error) {
	t.Helper()
	var o s3.Options
	optFn(&o)
	stack := middleware.NewStack(op, smithyhttp.NewStackRequest)
	for _, fn := range o.APIOptions {
		if err := fn(stack); err != nil {
			t.Fatal(err)
		}
	}
	var h middleware.DeserializeHandler = middleware.DeserializeHandlerFunc(func(context.Context, middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
		resp := &smithyhttp.Response{Response: &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(make([]byte, n)))}}
		return middleware.DeserializeOutput{RawResponse: resp}, middleware.Metadata{}, nil
	})
	ids := stack.Deserialize.List()
	for i := len(ids) - 1; i >= 0; i-- {
		m, _ := stack.Deserialize.Get(ids[i])
		next := h
		h = middleware.DeserializeHandlerFunc(func(ctx context.Context, in middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
			return m.HandleDeserialize(ctx, in, next)
		})
	}
	ctx := awsmiddleware.SetOperationName(context.Background(), op)
	out, _, err := h.HandleDeserialize(ctx, middleware.DeserializeInput{})
	if err != nil {
		t.Fatal(err)
	}
	return io.ReadAll(out.RawResponse.(*smithyhttp.Response).Body)
}

// limitResponseBody passes a body of exactly the limit whole, and fails
// the read past it with ErrBadResponse (not retryable).
func TestAttackLimitResponseBodyBoundary(t *testing.T) {
	const limit = 1000
	for _, n := range []int{0, limit, limit + 1, 10 * limit} {
		got, err := readThrough(t, limitResponseBody(limit), "ListObjectsV2", http.StatusOK, n)
		if n <= limit {
			if err != nil || len(got) != n {
				t.Fatalf("%d bytes: read %d, %v", n, len(got), err)
			}
			continue
		}
		var r interface{ RetryableError() bool }
		if !errors.Is(err, ErrBadResponse) || !errors.As(err, &r) || r.RetryableError() || len(got) > limit {
			t.Fatalf("%d bytes: %d read, %v; want at most %d and a non-retryable ErrBadResponse", n, len(got), err, limit)
		}
	}
}

// The bound every call has (withSafety): an error answer at most
// maxErrorAnswer bytes, a success at most maxResultAnswer, except
// GetObject's, the object itself, which the client checks on its own.
func TestAttackAnswerBounds(t *testing.T) {
	for _, tc := range []struct {
		op     string
		status int
		size   int
		fail   bool
	}{
		{"GetObject", 404, maxErrorAnswer, false},
		{"GetObject", 404, maxErrorAnswer + 1, true},
		{"GetObject", 503, maxErrorAnswer + 1, true},
		{"GetObject", 304, maxErrorAnswer + 1, true},
		{"GetObject", 200, maxResultAnswer + 1, false},
		{"GetObject", 206, maxResultAnswer + 1, false},
		{"DeleteObjects", 200, maxResultAnswer, false},
		{"DeleteObjects", 200, maxResultAnswer + 1, true},
		{"CompleteMultipartUpload", 200, maxResultAnswer + 1, true},
		{"HeadObject", 403, maxErrorAnswer + 1, true},
	} {
		got, err := readThrough(t, boundAnswers, tc.op, tc.status, tc.size)
		switch {
		case tc.fail && !errors.Is(err, ErrBadResponse):
			t.Errorf("%s %d, %d bytes: %v, want ErrBadResponse", tc.op, tc.status, tc.size, err)
		case !tc.fail && (err != nil || len(got) != tc.size):
			t.Errorf("%s %d, %d bytes: read %d, %v", tc.op, tc.status, tc.size, len(got), err)
		}
	}
}
