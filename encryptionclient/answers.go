package encryptionclient

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/printable"
)

// checkAnswers is a per-request option (every call of the Client, through
// withSafety) that checks what only the raw HTTP answer shows, before the
// SDK decodes it and loses it:
//
//   - a request that names a version (the versionId parameter) is answered
//     for that version: a success whose x-amz-version-id names another one
//     (a proxy or cache that dropped the parameter, and S3 answering for
//     the current version) is ErrBadResponse, so no read releases another
//     version's plaintext, envelope or size as the one asked for. An answer
//     without the header is taken as it is (a store without versions says
//     nothing; whoever can strip the header can forge it too);
//   - every x-amz-meta- header and x-amz-version-id has one value: a name
//     sent twice (two lines, or case twins, which Go's HTTP stack merges)
//     reaches the SDK as two values, of which it keeps the first and drops
//     the other, so the envelope decoder's duplicate checks never saw it.
//     Two values are an *envelope.MalformedError;
//   - a GET or HEAD pinned with If-Match (the reads of a ranged GetObject,
//     a Download's ranges, the body of a ReEncrypt) is answered for that
//     ETag: a success with another ETag (a store or proxy that ignored the
//     condition, the object replaced in between) is ErrObjectChanged,
//     before any byte of the other object is decrypted.
//
// Neither is retried.
func checkAnswers(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("S3ECCheckAnswers",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if err != nil {
					return out, md, err
				}
				req, ok := in.Request.(*smithyhttp.Request)
				resp, ok2 := out.RawResponse.(*smithyhttp.Response)
				if !ok || !ok2 || resp.Response == nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
					return out, md, err
				}
				if aerr := checkAnswerHeaders(req.Request, resp.Header); aerr != nil {
					if resp.Body != nil {
						resp.Body.Close()
					}
					return out, md, &answerError{aerr}
				}
				return out, md, err
			}), middleware.After)
	})
}

// checkAnswerHeaders checks the headers of a success answer to req (see
// checkAnswers).
func checkAnswerHeaders(req *http.Request, h http.Header) error {
	for name, vals := range h {
		lower := strings.ToLower(name)
		if len(vals) > 1 && (strings.HasPrefix(lower, "x-amz-meta-") || lower == "x-amz-version-id") {
			return &envelope.MalformedError{Field: printable.Text(lower), Reason: fmt.Sprintf("the answer has %d values for one header", len(vals))}
		}
	}
	if pin := req.Header.Get("If-Match"); pin != "" && pin != "*" && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
		if got := h.Get("Etag"); got != "" && !sameETag(&got, &pin) {
			return fmt.Errorf("%w: the read was pinned to ETag %s, the answer is of ETag %s", ErrObjectChanged, printable.Text(pin), printable.Text(got))
		}
	}
	asked := req.URL.Query().Get("versionId")
	if asked == "" {
		return nil
	}
	vals := h.Values("X-Amz-Version-Id")
	if len(vals) == 0 {
		return nil
	}
	if !sameVersion(&asked, &vals[0]) {
		return fmt.Errorf("%w: version %s was asked for, the answer is of version %s", ErrBadResponse, printable.Text(asked), printable.Text(vals[0]))
	}
	return nil
}

// answerError is a refused answer: not retried.
type answerError struct{ err error }

func (e *answerError) Error() string        { return e.err.Error() }
func (e *answerError) Unwrap() error        { return e.err }
func (e *answerError) RetryableError() bool { return false }
