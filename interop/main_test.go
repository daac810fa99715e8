package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// The servers every test shares: one in-process S3 (gofakes3) and one KMS
// test server. Each test makes its own bucket and KMS key.
var (
	s3srv  *s3test.Server
	kmsSrv *kmstest.Server
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	s3srv = s3test.NewFake()
	defer s3srv.Close()
	kmsSrv = kmstest.NewServer()
	defer kmsSrv.Close()

	dir, err := os.MkdirTemp("", "s3ec-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := isolateEnvironment(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// isolateEnvironment sets the process environment so that nothing can reach
// AWS, and so that an SDK client built from the default configuration talks
// to the in-process S3 server.
//
// The v3 and v4 AWS clients read an instruction file through an S3 client of
// their own, made with config.LoadDefaultConfig, not through the client they
// wrap: AWS_ENDPOINT_URL_S3 points that one at our server (an IP endpoint,
// so the SDK addresses buckets path-style). Shared config files, instance
// metadata, any ambient credentials and TLS settings are cut off, and every non-loopback
// HTTP request is sent to a closed local port, so a stray request fails at
// once instead of leaving the machine.
func isolateEnvironment(dir string) error {
	for _, k := range []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS",
		"AWS_SDK_LOAD_CONFIG", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
		// aws-sdk-go (v1) installs a CA bundle into the HTTP client of every
		// new session, racing with requests in flight; the servers are
		// plain HTTP anyway.
		"AWS_CA_BUNDLE", "AWS_SDK_GO_CLIENT_TLS_CERT", "AWS_SDK_GO_CLIENT_TLS_KEY",
	} {
		if err := os.Unsetenv(k); err != nil {
			return err
		}
	}
	missing := filepath.Join(dir, "missing")
	proxy := "http://127.0.0.1:9" // discard port: nothing listens
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":                  missing,
		"AWS_SHARED_CREDENTIALS_FILE":      missing,
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_REGION":                       s3srv.Region,
		"AWS_DEFAULT_REGION":               s3srv.Region,
		"AWS_ACCESS_KEY_ID":                s3srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY":            s3srv.SecretKey,
		"AWS_ENDPOINT_URL_S3":              s3srv.URL,
		"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
		"AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
		"AWS_RETRY_MODE":                   "standard",
		"AWS_MAX_ATTEMPTS":                 "1",
		"HTTP_PROXY":                       proxy,
		"HTTPS_PROXY":                      proxy,
		"http_proxy":                       proxy,
		"https_proxy":                      proxy,
		"NO_PROXY":                         "127.0.0.1,localhost,::1",
		"no_proxy":                         "127.0.0.1,localhost,::1",
	} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}
