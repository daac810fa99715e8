package encryptionclient

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3 accepts customer-provided keys (SSE-C) only over HTTPS. A request that
// would send one over plain HTTP is refused before it leaves the process.

type optionsGetter interface{ Options() s3.Options }

// checkSSEC refuses an SSE-C key when the client's endpoint is plain HTTP.
func checkSSEC(client S3API, key *string) error {
	if aws.ToString(key) == "" {
		return nil
	}
	if g, ok := client.(optionsGetter); ok && strings.HasPrefix(strings.ToLower(aws.ToString(g.Options().BaseEndpoint)), "http://") {
		return invalid("SSE-C customer keys may only be sent over HTTPS (endpoint %s)", aws.ToString(g.Options().BaseEndpoint))
	}
	return nil
}

// refuseSSECOverHTTP is a per-request option that checks the final request:
// it catches endpoints resolved by other means than BaseEndpoint.
func refuseSSECOverHTTP(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("S3ECRefuseSSECOverHTTP",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok && req.URL.Scheme == "http" {
					for _, h := range []string{"X-Amz-Server-Side-Encryption-Customer-Key", "X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key"} {
						if req.Header.Get(h) != "" {
							return middleware.FinalizeOutput{}, middleware.Metadata{}, invalid("SSE-C customer keys may only be sent over HTTPS")
						}
					}
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.Before)
	})
}

// withSafety appends the client's own per-request options to the caller's.
func withSafety(optFns []func(*s3.Options)) []func(*s3.Options) {
	out := make([]func(*s3.Options), 0, len(optFns)+1)
	out = append(out, optFns...)
	return append(out, refuseSSECOverHTTP)
}
