package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// env is one test's world: an S3 server (in-process by default, a real one
// when S3EC_TEST_S3_ENDPOINT is set), a bucket, a KMS test server and
// keyrings of each kind.
type env struct {
	t      *testing.T
	srv    *s3test.Server
	plain  *s3.Client
	bucket string
	kms    *kmstest.Server
	keyARN string
	krs    map[string]materials.Keyring
	// realKMS reports that the "kms" keyring uses another KMS than the test
	// server: AWS KMS (S3EC_TEST_KMS_KEY_ID) or the KMS at
	// S3EC_TEST_KMS_ENDPOINT.
	realKMS bool
}

// envKMSKeyID names a real AWS KMS key for the "kms" keyring (with the
// default AWS credential chain). Together with S3EC_TEST_S3_ENDPOINT it runs
// the suite against AWS.
const envKMSKeyID = "S3EC_TEST_KMS_KEY_ID"

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, srv: s3test.Start(t), kms: kmstest.New(t)}
	e.plain = e.srv.Client()
	e.bucket = e.srv.CreateBucket(t, e.plain)
	var kmsClient materials.KMSClient = e.kms.Client()
	e.keyARN = e.kms.CreateKey()
	if id := os.Getenv(envKMSKeyID); id != "" {
		// Real AWS KMS, with the default credential chain.
		cfg, err := config.LoadDefaultConfig(context.Background())
		if err != nil {
			t.Fatalf("%s is set but the AWS configuration does not load: %v", envKMSKeyID, err)
		}
		kmsClient, e.keyARN, e.realKMS = kms.NewFromConfig(cfg), id, true
	} else if c := peerKMSClient(t); c != nil {
		// Another KMS implementation (scripts/integration.sh local-kms).
		kmsClient, e.keyARN, e.realKMS = c, peerCreateKey(t, c), true
	}
	kmsKR, err := materials.NewKMSKeyring(kmsClient, e.keyARN)
	if err != nil {
		t.Fatal(err)
	}
	aesKR, err := materials.NewAESKeyring(randBytes(t, 32), func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"purpose": "test"}
	})
	if err != nil {
		t.Fatal(err)
	}
	e.krs = map[string]materials.Keyring{"kms": kmsKR, "aes": aesKR, "rsa": testRSAKeyring(t)}
	return e
}

// client returns an encryption client over the plain client.
func (e *env) client(kr materials.Keyring, optFns ...func(*encryptionclient.Options)) *encryptionclient.Client {
	e.t.Helper()
	c, err := encryptionclient.New(e.plain, kr, optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) put(c *encryptionclient.Client, ctx context.Context, key string, data []byte) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)})
	return err
}

func (e *env) get(c *encryptionclient.Client, ctx context.Context, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// raw reads what S3 stores, with the plain client.
func (e *env) raw(key string) ([]byte, map[string]string, error) {
	out, err := e.plain.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, out.Metadata, err
}

// putRaw stores bytes and metadata with the plain client.
func (e *env) putRaw(key string, body []byte, meta map[string]string) {
	e.t.Helper()
	_, err := e.plain.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(body), Metadata: meta,
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// exists reports whether key is stored.
func (e *env) exists(key string) bool {
	_, err := e.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	return err == nil
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustErrorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// TestAgainstAWS reports whether this run uses real AWS services; the rest
// of the suite runs either way.
func TestAgainstAWS(t *testing.T) {
	if os.Getenv(envKMSKeyID) == "" {
		t.Skipf("the suite used the KMS test server: set %s (a key the default AWS credentials may use) to run it against AWS KMS, and S3EC_TEST_S3_ENDPOINT=https://s3.REGION.amazonaws.com with S3EC_TEST_S3_ACCESS_KEY, S3EC_TEST_S3_SECRET_KEY, S3EC_TEST_S3_REGION and S3EC_TEST_S3_NAME=aws for AWS S3", envKMSKeyID)
	}
	e := newEnv(t)
	if !e.realKMS {
		t.Fatal("real KMS requested but not used")
	}
	t.Logf("KMS key %s, S3 %s", e.keyARN, e.srv.Name)
}
