package encryptionclient

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/internal/answerlimit"
	"github.com/s3ec/s3ec-go/materials"
)

// S3API is the part of the S3 API the client calls, with the SDK's own
// signatures: *s3.Client satisfies it.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, optFns ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ S3API = (*s3.Client)(nil)

// Client encrypts objects before they are sent to S3 and decrypts them
// after they are read. It exposes only operations it handles safely; use
// your own *s3.Client for everything else (listing, tagging, ACLs…). It is
// safe for concurrent use.
type Client struct {
	s3      S3API
	keyring materials.Keyring
	opts    Options
	uploads uploadTable // open encrypted multipart uploads (multipart.go)
}

// New returns a client that sends requests through client and gets data
// keys from keyring. The options are validated here; a nil option
// function sets nothing.
func New(client S3API, keyring materials.Keyring, optFns ...func(*Options)) (*Client, error) {
	if client == nil {
		return nil, invalid("nil S3 client")
	}
	if keyring == nil {
		return nil, invalid("nil keyring")
	}
	var o Options
	applyOptions(&o, optFns)
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Client{s3: client, keyring: keyring, opts: o}, nil
}

// Options returns a copy of the client's options, defaults filled in.
func (c *Client) Options() Options { return c.opts }

// withSafety appends the client's own per-request options to the caller's:
// SSE-C keys never go over plain HTTP (refuseSSECOverHTTP), and every
// answer's body is bounded (boundAnswers). Nil functions are dropped: they
// set nothing, and the SDK would call them. It is applied once per call:
// the options it returns are not passed through it again (the middlewares
// it adds may be on a stack once).
func withSafety(optFns []func(*s3.Options)) []func(*s3.Options) {
	out := make([]func(*s3.Options), 0, len(optFns)+2)
	for _, fn := range optFns {
		if fn != nil {
			out = append(out, fn)
		}
	}
	return append(out, refuseSSECOverHTTP, boundAnswers, checkAnswers)
}

// The bounds of an S3 answer's body, read below the SDK's deserializers,
// which copy an error answer's body whole into memory (and its message
// into the error's text) and decode a success answer's XML whole: without
// them a server, or a plain-HTTP network, that answers with gigabytes
// makes the process allocate many times that.
const (
	// maxErrorAnswer bounds the body of an answer with a status outside
	// 2xx. S3's error XML is a few hundred bytes (a code, a message, the
	// resource, request ids); 64 KiB leaves room for any S3-compatible
	// server's wordier messages.
	maxErrorAnswer = 64 << 10
	// maxResultAnswer bounds the body of a 2xx answer of every operation
	// but GetObject. The largest honest one is a DeleteObjects result or
	// a listing: 1000 entries, each a key of up to 1024 bytes that XML
	// escaping may grow sixfold, with version ids: about 7 MiB. The
	// listings have tighter bounds of their own (maxListingAnswer,
	// maxListPartsAnswer).
	maxResultAnswer = 16 << 20
)

// boundAnswers is the per-request option that bounds every answer's body
// (answerBound); a longer one fails with ErrBadResponse, never retried.
func boundAnswers(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, answerlimit.Add("S3ECBoundAnswer", answerBound, ErrBadResponse))
}

// answerBound chooses the bound of one answer's body. A GetObject success
// is not bounded here: its body is the object, streamed, and the client
// checks its length itself, against Content-Length (exactBody) and the
// client's own limits.
func answerBound(ctx context.Context, status int) int64 {
	switch {
	case status < 200 || status >= 300:
		return maxErrorAnswer
	case awsmiddleware.GetOperationName(ctx) == "GetObject":
		return 0
	default:
		return maxResultAnswer
	}
}

// applyOptions calls each option function on o in order, skipping nil
// ones (a nil function sets nothing; the SDK's constructors would panic).
func applyOptions[T any](o *T, optFns []func(*T)) {
	for _, fn := range optFns {
		if fn != nil {
			fn(o)
		}
	}
}
