// Package s3test runs S3 servers for tests, examples and benchmarks: the
// in-process gofakes3 server by default, or a real S3-compatible server
// (versitygw, MinIO, AWS) named by environment variables.
package s3test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is an S3 endpoint for tests.
type Server struct {
	URL       string // endpoint, e.g. http://127.0.0.1:41234
	AccessKey string
	SecretKey string
	Region    string
	// Real reports a real S3 server (not the in-process fake), whose
	// semantics (5 MiB part minimum, REPLACE copies) are exact.
	Real bool
	// Name says which server this is, for test logs.
	Name string

	close      func()
	httpClient *http.Client
}

// Environment variables that point the tests at a real server.
const (
	EnvEndpoint  = "S3EC_TEST_S3_ENDPOINT"   // e.g. http://127.0.0.1:7070
	EnvAccessKey = "S3EC_TEST_S3_ACCESS_KEY" // static credentials
	EnvSecretKey = "S3EC_TEST_S3_SECRET_KEY"
	EnvName      = "S3EC_TEST_S3_NAME" // versitygw, minio, aws…
	EnvRegion    = "S3EC_TEST_S3_REGION"
)

// NewFake starts an in-process gofakes3 server with an in-memory backend.
// Its metadata limit is raised, as gofakes3 counts the SDK's own headers in
// it (real servers enforce S3's 2 KB user-metadata limit).
func NewFake() *Server {
	faker := gofakes3.New(exactVersions{s3mem.New()}, gofakes3.WithMetadataSizeLimit(16<<10), gofakes3.WithLogger(gofakes3.DiscardLog()))
	ts := httptest.NewServer(exactCopy(faker.Server()))
	return &Server{
		URL: ts.URL, AccessKey: "test", SecretKey: "testsecret", Region: "us-east-1",
		Name: "gofakes3", close: ts.Close,
	}
}

// NewFakeTLS starts an in-process gofakes3 server over HTTPS (with a test
// certificate that Client trusts), for requests S3 accepts only over TLS
// such as SSE-C.
func NewFakeTLS() *Server {
	faker := gofakes3.New(exactVersions{s3mem.New()}, gofakes3.WithMetadataSizeLimit(16<<10), gofakes3.WithLogger(gofakes3.DiscardLog()))
	ts := httptest.NewTLSServer(exactCopy(faker.Server()))
	return &Server{
		URL: ts.URL, AccessKey: "test", SecretKey: "testsecret", Region: "us-east-1",
		Name: "gofakes3-tls", close: ts.Close, httpClient: ts.Client(),
	}
}

// Start returns the server named by the S3EC_TEST_S3_* environment
// variables, or an in-process fake when they are not set. The fake is
// closed when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		s := &Server{
			URL: ep, AccessKey: os.Getenv(EnvAccessKey), SecretKey: os.Getenv(EnvSecretKey),
			Region: os.Getenv(EnvRegion), Real: true, Name: os.Getenv(EnvName),
		}
		if s.Region == "" {
			s.Region = "us-east-1"
		}
		if s.Name == "" {
			s.Name = ep
		}
		return s
	}
	s := NewFake()
	tb.Cleanup(s.Close)
	return s
}

// Close stops an in-process server.
func (s *Server) Close() {
	if s.close != nil {
		s.close()
	}
}

// Client returns a plain aws-sdk-go-v2 S3 client for the server: path-style
// addressing, static credentials.
func (s *Server) Client(optFns ...func(*s3.Options)) *s3.Client {
	opts := s3.Options{
		BaseEndpoint: aws.String(s.URL),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	}
	if s.httpClient != nil {
		opts.HTTPClient = s.httpClient
	}
	if !s.Real {
		// gofakes3 does not understand aws-chunked trailing checksums.
		opts.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		opts.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	return s3.New(opts, optFns...)
}

// CreateBucket creates a bucket with a name unique to the test and returns
// it.
func (s *Server) CreateBucket(tb testing.TB, c *s3.Client) string {
	tb.Helper()
	name := bucketName(tb)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("create bucket %s on %s: %v", name, s.Name, err)
	}
	return name
}

// SkipUnlessConditionalDeletes skips the test when the server deletes an
// object whose ETag does not match a DeleteObject's If-Match (MinIO
// ignores the header): what such a test proves needs the condition. It
// probes with a scratch object in bucket.
func (s *Server) SkipUnlessConditionalDeletes(tb testing.TB, c *s3.Client, bucket string) {
	tb.Helper()
	ctx := context.Background()
	key := aws.String("s3test-conditional-delete-probe")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: key, Body: strings.NewReader("probe")}); err != nil {
		tb.Fatalf("%s: conditional-delete probe: %v", s.Name, err)
	}
	_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: key, IfMatch: aws.String(`"00000000000000000000000000000000"`)})
	_, herr := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: key})
	c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: key})
	if err == nil && herr != nil {
		tb.Skipf("%s deletes an object whose ETag does not match If-Match: conditional deletes are not honoured", s.Name)
	}
}
