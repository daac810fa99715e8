package bulk

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
)

func generate(c *kms.Client, arn string) error {
	_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: types.DataKeySpecAes256})
	return err
}

func TestRateLimit(t *testing.T) {
	s := kmstest.New(t)
	arn := s.CreateKey()
	c := s.Client(RateLimit(20))
	start := time.Now()
	for range 40 { // a burst of 20, then 20 at 20 per second
		if err := generate(c, arn); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Fatalf("40 requests at 20/s took %v, want about 1 s", d)
	}
}

func TestRateLimitCountsRetries(t *testing.T) {
	s := kmstest.New(t)
	arn := s.CreateKey()
	noBackoff := func(o *kms.Options) {
		o.RetryMaxAttempts = 0
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}
	c := s.Client(RateLimit(10), noBackoff)
	s.FailEvery("GenerateDataKey", "ThrottlingException", 2)
	start := time.Now()
	for range 10 {
		if err := generate(c, arn); err != nil {
			t.Fatal(err)
		}
	}
	// 10 calls, 19 attempts: a burst of 10, then 9 at 10 per second. A
	// limit on calls instead of attempts would let all 10 through at once.
	if n := s.Calls("GenerateDataKey"); n != 19 {
		t.Fatalf("%d attempts, want 19", n)
	}
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Fatalf("19 attempts at 10/s took %v: the retries were not limited", d)
	}
}

func TestRetry(t *testing.T) {
	s := kmstest.New(t)
	arn := s.CreateKey()
	// kmstest's client sets RetryMaxAttempts 1; Retry overrides it.
	c := s.Client(Retry(3))
	s.FailEvery("GenerateDataKey", "ThrottlingException", 2)
	for range 2 {
		if err := generate(c, arn); err != nil {
			t.Fatalf("a throttle every other attempt not retried: %v", err)
		}
	}
	s.FailEvery("GenerateDataKey", "ThrottlingException", 1)
	s.ResetCalls()
	err := generate(c, arn)
	if n := s.Calls("GenerateDataKey"); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	status, code, http := Classify(err)
	if status != TemporaryFailure || code != "ThrottlingException" || http != 400 || !IsThrottle(err) {
		t.Fatalf("exhausted retries: %v -> %s %s %d", err, status, code, http)
	}
}
