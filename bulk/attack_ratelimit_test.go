package bulk

import (
	"math"
	"testing"

	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
)

// A very large rate (a flag such as --kms-requests-per-second 1e19, or a
// caller's computed share) overflowed the token bucket's burst into a
// negative int: every KMS request then failed at once with the limiter's
// error, and a job reported every object as a permanent failure. Any
// rate above zero must let requests through.
func TestAttackRateLimitHugeRate(t *testing.T) {
	s := kmstest.New(t)
	arn := s.CreateKey()
	for _, r := range []float64{1e10, 1e19, 1e300, math.MaxFloat64, math.Inf(1), math.NaN()} {
		if err := generate(s.Client(RateLimit(r)), arn); err != nil {
			t.Errorf("RateLimit(%g): %v", r, err)
		}
	}
}
