package encryptionclient

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3ec/s3ec-go/internal/answerlimit"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// The checks of what S3 answers to a GET: the status, the range and the
// length of the body. The server (or the network before it) may say
// anything; nothing is decrypted, allocated or released on its word
// before these checks.

// statusCode returns the HTTP status of a response, or 0 when the output
// did not come through the SDK's HTTP stack (a test double).
func statusCode(out *s3.GetObjectOutput) int {
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok && raw.Response != nil {
		return raw.StatusCode
	}
	return 0
}

// checkWholeResponse checks the answer to a GET without a Range: a 200
// with no Content-Range and a non-negative Content-Length (when there is
// one) that equals want (when want ≥ 0: the size HeadObject saw).
func checkWholeResponse(out *s3.GetObjectOutput, want int64) error {
	if code := statusCode(out); code != 0 && code != http.StatusOK {
		return fmt.Errorf("%w: status %d for a whole-object GET", ErrBadResponse, code)
	}
	if out.ContentRange != nil {
		return fmt.Errorf("%w: a range (%s) that was not requested", ErrBadResponse, aws.ToString(out.ContentRange))
	}
	if out.ContentLength != nil {
		switch n := *out.ContentLength; {
		case n < 0:
			return fmt.Errorf("%w: Content-Length %d", ErrBadResponse, n)
		case want >= 0 && n != want:
			return fmt.Errorf("%w: Content-Length %d, HeadObject saw %d bytes", ErrBadResponse, n, want)
		}
	}
	return nil
}

// checkRangeResponse checks the answer to a GET of body bytes first-last
// of an object of total bytes: a 206 whose Content-Range is exactly that
// range and whose Content-Length (when there is one) is its length. Both
// ranged GetObject and every range of Download use it.
func checkRangeResponse(out *s3.GetObjectOutput, first, last, total int64) error {
	asked := fmt.Sprintf("bytes=%d-%d", first, last)
	if code := statusCode(out); code != 0 && code != http.StatusPartialContent {
		return fmt.Errorf("%w: range %s answered with status %d", ErrBadResponse, asked, code)
	}
	if got, want := aws.ToString(out.ContentRange), fmt.Sprintf("bytes %d-%d/%d", first, last, total); got != want {
		return fmt.Errorf("%w: range %s of a %d-byte object answered with Content-Range %q", ErrBadResponse, asked, total, got)
	}
	if out.ContentLength != nil && *out.ContentLength != last-first+1 {
		return fmt.Errorf("%w: range %s answered with Content-Length %d", ErrBadResponse, asked, *out.ContentLength)
	}
	return nil
}

// requireETag checks that the success answer of a write names what was
// written: S3 answers PutObject and UploadPart with an ETag header, and
// CompleteMultipartUpload and CopyObject with a result that holds one
// (sent after a 200 and whitespace, while the server works). An answer
// without it (a body cut by a proxy before the late result, or one that
// never came from S3) says nothing of whether the write happened: it is
// ErrBadResponse, and nothing is done on its strength (no instruction
// file deleted, no success reported).
func requireETag(op string, etag *string) error {
	if aws.ToString(etag) != "" {
		return nil
	}
	return fmt.Errorf("%w: %s answered without an ETag: whether it was written is not known", ErrBadResponse, op)
}

// copyETag is the ETag of a CopyObject's result, nil without one.
func copyETag(out *s3.CopyObjectOutput) *string {
	if out == nil || out.CopyObjectResult == nil {
		return nil
	}
	return out.CopyObjectResult.ETag
}

// checkCBCLength refuses a legacy CBC body of unknown length (ctLen < 0:
// no Content-Length, and for Download none from HeadObject either) whose
// envelope records no plaintext length. CBC has no tag: a body cut at a
// block boundary whose plaintext ends in valid padding would read as the
// whole object, and only a length can tell. S3 always sends one.
func checkCBCLength(op *objectcrypto.Opener, ctLen int64) error {
	if op.Authenticated() || ctLen >= 0 || op.Envelope.PlaintextLength >= 0 {
		return nil
	}
	return fmt.Errorf("%w: a legacy CBC body without a Content-Length, and no plaintext length recorded: its end cannot be told from a cut", ErrBadResponse)
}

// exactBody reads a response body that must hold exactly n bytes: one that
// ends sooner fails with ErrTruncated (which wraps io.ErrUnexpectedEOF, as
// a cut connection does), one that goes on fails with ErrTooLarge. Its
// io.EOF therefore means exactly n bytes arrived.
type exactBody struct {
	rc   io.ReadCloser
	n    int64 // announced
	left int64
	err  error
}

func newExactBody(rc io.ReadCloser, n int64) *exactBody {
	return &exactBody{rc: rc, n: n, left: n}
}

func (b *exactBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.left == 0 {
		// Everything announced arrived: the body must end here.
		var one [1]byte
		k, err := streamio.ReadFull(b.rc, one[:])
		switch {
		case k > 0:
			b.err = fmt.Errorf("%w: the body goes on past its %d bytes", ErrTooLarge, b.n)
		case err == io.EOF:
			b.err = io.EOF
		case err == io.ErrUnexpectedEOF:
			// The connection broke before the body's end was seen (a
			// chunked answer without its last chunk): a cut, as before
			// the last byte.
			b.err = fmt.Errorf("%w: the body was cut after its %d bytes, before its end", ErrTruncated, b.n)
		default:
			b.err = err
		}
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	k, err := b.rc.Read(p)
	if k < 0 || k > len(p) {
		b.err = streamio.ErrInvalidCount
		return 0, b.err
	}
	b.left -= int64(k)
	switch {
	case err == nil:
	case err == io.EOF && b.left == 0:
		err = nil // the next Read checks that the body ends
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		b.err = fmt.Errorf("%w: %d of %d bytes", ErrTruncated, b.n-b.left, b.n)
		err = b.err
	default:
		b.err = err
	}
	return k, err
}

func (b *exactBody) Close() error { return b.rc.Close() }

// What S3's errors mean for an operation that read an object first.

// changedError marks with ErrObjectChanged an S3 precondition failure (the
// ETag read no longer matches) and a 404 (the object read is gone, or is
// being replaced: some servers answer an in-place copy racing another
// writer with NoSuchKey).
func changedError(op string, err error) error {
	var api smithy.APIError
	var re *awshttp.ResponseError
	// S3 answers a conditional write that meets a concurrent operation on
	// the key with 409 ConditionalRequestConflict, to be retried: a
	// concurrent write too.
	if (errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "ConditionalRequestConflict")) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed) || isNotFound(err) {
		return fmt.Errorf("%w: %s: %w", ErrObjectChanged, op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isNotFound reports an S3 404.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}

// limitResponseBody is a per-request option for the calls whose answer
// the SDK decodes whole (XML) before the client can check any of it: the
// body of every attempt's response is read at most limit bytes far, and
// beyond that the read fails with an *answerlimit.TooLargeError
// (ErrBadResponse, never retried), so a server cannot make the decoder
// allocate without end. It wraps the body as the HTTP client hands it
// over, below the SDK's deserializer (the end of the Deserialize step),
// inside the bound every call has (withSafety), which it narrows.
func limitResponseBody(limit int64) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, answerlimit.Add("S3ECLimitResponseBody", answerlimit.Fixed(limit), ErrBadResponse))
	}
}
