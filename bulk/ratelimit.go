package bulk

import (
	"context"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// RateLimit limits the requests of a KMS client to perSecond, with bursts
// of up to ceil(perSecond): a token bucket (golang.org/x/time/rate) that
// every attempt waits on, retries included, before it is signed and sent.
// KMS request quotas are per account and region and shared by every
// caller; give each of N workers 1/N of the share the job may use. The
// limiter belongs to the returned option: clients built with the same
// value share it. perSecond <= 0 (or NaN, or 2^31 and more) means no
// limit.
//
//	kmsClient := kms.NewFromConfig(cfg, bulk.RateLimit(100), bulk.Retry(10))
func RateLimit(perSecond float64) func(*kms.Options) {
	add := RateLimitStack(perSecond)
	return func(o *kms.Options) {
		o.APIOptions = append(o.APIOptions, add)
	}
}

// RateLimitStack is RateLimit for any AWS SDK client, as an entry of its
// Options.APIOptions (for example s3.Options).
func RateLimitStack(perSecond float64) func(*middleware.Stack) error {
	limit, burst := rate.Inf, 1
	// A rate of 2^31 per second or more is no limit: its burst, an int,
	// would overflow (and fail every request).
	if perSecond > 0 && perSecond < math.MaxInt32 {
		limit, burst = rate.Limit(perSecond), int(math.Ceil(perSecond))
	}
	l := rate.NewLimiter(limit, burst)
	mw := middleware.FinalizeMiddlewareFunc("bulk.RateLimit", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if err := l.Wait(ctx); err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		return next.HandleFinalize(ctx, in)
	})
	return func(s *middleware.Stack) error {
		// After the retry middleware, so that each attempt waits.
		if err := s.Finalize.Insert(mw, "Retry", middleware.After); err == nil {
			return nil
		}
		return s.Finalize.Add(mw, middleware.Before)
	}
}

// DefaultRetryAttempts is the attempts Retry(0) makes.
const DefaultRetryAttempts = 10

// RetryMaxBackoff bounds the backoff between two attempts of Retry.
const RetryMaxBackoff = 5 * time.Second

// Retry makes a KMS client retry throttling (ThrottlingException and the
// SDK's other throttle codes), 5xx and timeouts up to maxAttempts attempts
// in all (DefaultRetryAttempts when maxAttempts <= 0), with exponential
// backoff and jitter up to RetryMaxBackoff, and without the SDK's
// client-side retry quota (which would stop retrying exactly when a bulk
// job is throttled the most). When the attempts are exhausted the error is
// a TemporaryFailure (Classify), which S3 Batch Operations retries later.
func Retry(maxAttempts int) func(*kms.Options) {
	if maxAttempts <= 0 {
		maxAttempts = DefaultRetryAttempts
	}
	return func(o *kms.Options) {
		// RetryMaxAttempts (from the shared config, e.g. AWS_MAX_ATTEMPTS)
		// would cap this retryer again.
		o.RetryMaxAttempts = 0
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = RetryMaxBackoff
			so.RateLimiter = ratelimit.None
		})
	}
}
