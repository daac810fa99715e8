package interop

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	v3client "github.com/aws/amazon-s3-encryption-client-go/v3/client"
	v3materials "github.com/aws/amazon-s3-encryption-client-go/v3/materials"
	v4algorithms "github.com/aws/amazon-s3-encryption-client-go/v4/algorithms"
	v4client "github.com/aws/amazon-s3-encryption-client-go/v4/client"
	v4commitment "github.com/aws/amazon-s3-encryption-client-go/v4/commitment"
	v4materials "github.com/aws/amazon-s3-encryption-client-go/v4/materials"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	credentialsv1 "github.com/aws/aws-sdk-go/aws/credentials"
	sessionv1 "github.com/aws/aws-sdk-go/aws/session"
	kmsv1 "github.com/aws/aws-sdk-go/service/kms"
	s3v1 "github.com/aws/aws-sdk-go/service/s3"
	"github.com/aws/aws-sdk-go/service/s3/s3crypto"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// harness is one test's bucket and KMS key, on the shared servers.
type harness struct {
	bucket string
	keyARN string
	plain  *s3.Client // aws-sdk-go-v2, no encryption: to inspect what is stored
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	plain := s3srv.Client()
	return &harness{bucket: s3srv.CreateBucket(t, plain), keyARN: kmsSrv.CreateKey(), plain: plain}
}

// A putter encrypts data and stores it under key; a getter reads and
// decrypts it. ec is the encryption context; nil means none is given.
type (
	putter func(ctx context.Context, t *testing.T, h *harness, key string, data []byte, ec map[string]string) error
	getter func(ctx context.Context, t *testing.T, h *harness, key string, ec map[string]string) ([]byte, error)
)

// quiet is the logger given to the AWS clients, which otherwise log to the
// standard logger.
var quiet = log.New(io.Discard, "", 0)

// --- our client -----------------------------------------------------------

func ours(t *testing.T, h *harness, policy envelope.CommitmentPolicy, storage encryptionclient.EnvelopeStorage) *encryptionclient.Client {
	t.Helper()
	kr, err := materials.NewKMSKeyring(kmsSrv.Client(), h.keyARN)
	if err != nil {
		t.Fatalf("s3ec-go: NewKMSKeyring: %v", err)
	}
	c, err := encryptionclient.New(s3srv.Client(), kr, func(o *encryptionclient.Options) {
		o.CommitmentPolicy = policy
		o.EnvelopeStorage = storage
	})
	if err != nil {
		t.Fatalf("s3ec-go: New: %v", err)
	}
	return c
}

func oursPut(policy envelope.CommitmentPolicy, storage encryptionclient.EnvelopeStorage) putter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, data []byte, ec map[string]string) error {
		if ec != nil {
			ctx = encryptionclient.WithEncryptionContext(ctx, ec)
		}
		_, err := ours(t, h, policy, storage).PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		})
		return err
	}
}

func oursGet(policy envelope.CommitmentPolicy) getter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, ec map[string]string) ([]byte, error) {
		if ec != nil {
			ctx = encryptionclient.WithEncryptionContext(ctx, ec)
		}
		out, err := ours(t, h, policy, encryptionclient.StoreAuto).GetObject(ctx, &s3.GetObjectInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key),
		})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
}

// --- amazon-s3-encryption-client-go/v3 (v3.2.0) ---------------------------

func awsV3(t *testing.T, h *harness) *v3client.S3EncryptionClientV3 {
	t.Helper()
	cmm, err := v3materials.NewCryptographicMaterialsManager(v3materials.NewKmsKeyring(kmsSrv.Client(), h.keyARN))
	if err != nil {
		t.Fatalf("aws v3: NewCryptographicMaterialsManager: %v", err)
	}
	// The default policy, FORBID_ENCRYPT_ALLOW_DECRYPT: writes V2, reads V2
	// and V3.
	c, err := v3client.New(s3srv.Client(), cmm, func(o *v3client.EncryptionClientOptions) { o.Logger = quiet })
	if err != nil {
		t.Fatalf("aws v3: New: %v", err)
	}
	return c
}

func awsV3Put() putter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, data []byte, ec map[string]string) error {
		if ec != nil {
			ctx = context.WithValue(ctx, v3client.EncryptionContext, ec)
		}
		_, err := awsV3(t, h).PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		})
		return err
	}
}

func awsV3Get() getter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, ec map[string]string) ([]byte, error) {
		if ec != nil {
			ctx = context.WithValue(ctx, v3client.EncryptionContext, ec)
		}
		out, err := awsV3(t, h).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
}

// --- amazon-s3-encryption-client-go/v4 (v4.0.0) ---------------------------

// v4Mode is how a v4 client is configured.
type v4Mode int

const (
	v4Default       v4Mode = iota // REQUIRE_ENCRYPT_REQUIRE_DECRYPT: writes and reads V3 only
	v4NonCommitting               // FORBID_ENCRYPT_ALLOW_DECRYPT + AES/GCM/NoPadding: writes V2
	v4AllowDecrypt                // REQUIRE_ENCRYPT_ALLOW_DECRYPT: writes V3, reads V2 and V3
)

func awsV4(t *testing.T, h *harness, mode v4Mode) *v4client.S3EncryptionClientV4 {
	t.Helper()
	cmm, err := v4materials.NewCryptographicMaterialsManager(v4materials.NewKmsKeyring(kmsSrv.Client(), h.keyARN))
	if err != nil {
		t.Fatalf("aws v4: NewCryptographicMaterialsManager: %v", err)
	}
	c, err := v4client.New(s3srv.Client(), cmm, func(o *v4client.EncryptionClientOptions) {
		o.Logger = quiet
		switch mode {
		case v4NonCommitting:
			o.CommitmentPolicy = v4commitment.FORBID_ENCRYPT_ALLOW_DECRYPT
			o.EncryptionAlgorithmSuite = v4algorithms.AlgAES256GCMIV12Tag16NoKDF
		case v4AllowDecrypt:
			o.CommitmentPolicy = v4commitment.REQUIRE_ENCRYPT_ALLOW_DECRYPT
		}
	})
	if err != nil {
		t.Fatalf("aws v4: New: %v", err)
	}
	return c
}

func awsV4Put(mode v4Mode) putter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, data []byte, ec map[string]string) error {
		if ec != nil {
			ctx = context.WithValue(ctx, v4client.EncryptionContext, ec)
		}
		_, err := awsV4(t, h, mode).PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(h.bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		})
		return err
	}
}

func awsV4Get(mode v4Mode) getter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, ec map[string]string) ([]byte, error) {
		if ec != nil {
			ctx = context.WithValue(ctx, v4client.EncryptionContext, ec)
		}
		out, err := awsV4(t, h, mode).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
}

// --- aws-sdk-go (v1) service/s3/s3crypto ----------------------------------

// v1HTTP is the HTTP client of every aws-sdk-go session, rather than
// http.DefaultClient, which a session may alter.
var v1HTTP = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

func v1Session(t *testing.T) *sessionv1.Session {
	t.Helper()
	sess, err := sessionv1.NewSession(&awsv1.Config{
		HTTPClient:       v1HTTP,
		Endpoint:         awsv1.String(s3srv.URL),
		Region:           awsv1.String(s3srv.Region),
		S3ForcePathStyle: awsv1.Bool(true),
		Credentials:      credentialsv1.NewStaticCredentials(s3srv.AccessKey, s3srv.SecretKey, ""),
		MaxRetries:       awsv1.Int(0),
	})
	if err != nil {
		t.Fatalf("aws-sdk-go: NewSession: %v", err)
	}
	return sess
}

func v1KMS(sess *sessionv1.Session) *kmsv1.KMS {
	return kmsv1.New(sess, &awsv1.Config{Endpoint: awsv1.String(kmsSrv.URL)})
}

// s3cryptoPut writes with EncryptionClientV2 (kms+context, AES/GCM/NoPadding),
// the envelope in the object's metadata or, with instructionFile, in an
// instruction file (S3SaveStrategy). s3crypto takes the encryption context
// as the key generator's material description.
func s3cryptoPut(instructionFile bool) putter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, data []byte, ec map[string]string) error {
		sess := v1Session(t)
		var matdesc s3crypto.MaterialDescription
		if ec != nil {
			matdesc = s3crypto.MaterialDescription{}
			for k, v := range ec {
				matdesc[k] = awsv1.String(v)
			}
		}
		gen := s3crypto.NewKMSContextKeyGenerator(v1KMS(sess), h.keyARN, matdesc)
		c, err := s3crypto.NewEncryptionClientV2(sess, s3crypto.AESGCMContentCipherBuilderV2(gen),
			func(o *s3crypto.EncryptionClientOptions) {
				if instructionFile {
					o.SaveStrategy = s3crypto.S3SaveStrategy{Client: s3v1.New(sess)}
				}
			})
		if err != nil {
			t.Fatalf("s3crypto: NewEncryptionClientV2: %v", err)
		}
		_, err = c.PutObjectWithContext(ctx, &s3v1.PutObjectInput{
			Bucket: awsv1.String(h.bucket), Key: awsv1.String(key), Body: bytes.NewReader(data),
		})
		return err
	}
}

// s3cryptoGet reads with DecryptionClientV2, the KMS key named
// (RegisterKMSContextWrapWithCMK) or any (RegisterKMSContextWrapWithAnyCMK).
// s3crypto cannot be told which encryption context to expect: it uses the
// stored one, so ec is not used.
func s3cryptoGet(anyCMK bool) getter {
	return func(ctx context.Context, t *testing.T, h *harness, key string, _ map[string]string) ([]byte, error) {
		sess := v1Session(t)
		cr := s3crypto.NewCryptoRegistry()
		var err error
		if anyCMK {
			err = s3crypto.RegisterKMSContextWrapWithAnyCMK(cr, v1KMS(sess))
		} else {
			err = s3crypto.RegisterKMSContextWrapWithCMK(cr, v1KMS(sess), h.keyARN)
		}
		if err != nil {
			t.Fatalf("s3crypto: register kms+context: %v", err)
		}
		if err := s3crypto.RegisterAESGCMContentCipher(cr); err != nil {
			t.Fatalf("s3crypto: RegisterAESGCMContentCipher: %v", err)
		}
		c, err := s3crypto.NewDecryptionClientV2(sess, cr)
		if err != nil {
			t.Fatalf("s3crypto: NewDecryptionClientV2: %v", err)
		}
		out, err := c.GetObjectWithContext(ctx, &s3v1.GetObjectInput{Bucket: awsv1.String(h.bucket), Key: awsv1.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
}
