package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// fixedKeyring unwraps every data key to the one a vector recorded (the
// vectors' KMS is not this test's); it writes nothing.
type fixedKeyring struct{ key []byte }

func (k fixedKeyring) GenerateDataKey(context.Context, *materials.EncryptionRequest) (*materials.DataKey, error) {
	return nil, materials.ErrUnwrap
}

func (k fixedKeyring) DecryptDataKey(context.Context, *materials.DecryptionRequest) ([]byte, error) {
	return bytes.Clone(k.key), nil
}

// AWS-written vectors of every format (V1 with AES-CBC, V2 with AES-GCM,
// V3), with their envelopes in metadata or instruction files, are
// re-encrypted by s3ec-go to V3 under a KMS key of the test server, and
// AWS's Go v4 client (default settings: V3 only) reads every one back.
func TestReEncryptVectorsThenAWSv4Reads(t *testing.T) {
	h := newHarness(t)
	target, err := materials.NewKMSKeyring(kmsSrv.Client(), h.keyARN)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	counts := map[string]int{}
	for _, group := range []string{"sdkv1-v1client-cbc", "sdkv1-v1client-gcm", "sdkv1-v2client", "v4go-v2format-noncommitting", "v4go-v3format-committing"} {
		vs, err := testvectors.Load(filepath.Join(testvectors.Dir(), group))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Negative() || len(v.KMS) == 0 || v.KMS[0].PlaintextKeyB64 == "" {
				continue
			}
			ct, err := v.Ciphertext()
			if err != nil {
				t.Fatal(err)
			}
			pt, err := v.Plaintext()
			if err != nil {
				t.Fatal(err)
			}
			dk, err := base64.StdEncoding.DecodeString(v.KMS[0].PlaintextKeyB64)
			if err != nil {
				t.Fatal(err)
			}
			key := group + "/" + v.Name
			if _, err := h.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &h.bucket, Key: &key, Body: bytes.NewReader(ct), Metadata: maps.Clone(v.Metadata)}); err != nil {
				t.Fatal(err)
			}
			if v.InstructionFile != nil {
				if _, err := h.plain.PutObject(ctx, &s3.PutObjectInput{
					Bucket: &h.bucket, Key: aws.String(key + ".instruction"), Body: bytes.NewReader([]byte(v.InstructionFile.Body)),
					Metadata: maps.Clone(v.InstructionFile.Metadata),
				}); err != nil {
					t.Fatal(err)
				}
			}
			c, err := encryptionclient.New(s3srv.Client(), fixedKeyring{key: dk}, func(o *encryptionclient.Options) {
				o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
				o.EnableLegacyUnauthenticatedModes = true
			})
			if err != nil {
				t.Fatal(err)
			}
			// A CBC source needs the opt-in for unauthenticated content
			// (nothing is written without it); a GCM source does not.
			in := &encryptionclient.ReEncryptInput{Bucket: &h.bucket, Key: &key, Keyring: target}
			out, err := c.ReEncrypt(ctx, in)
			if errors.Is(err, encryptionclient.ErrUnauthenticatedSource) {
				in.AllowUnauthenticatedSource = true
				out, err = c.ReEncrypt(ctx, in)
			}
			if err != nil {
				t.Fatalf("%s: ReEncrypt: %v", v.Name, err)
			}
			if out.SourceAuthenticated != out.FromSuite.Authenticated() || out.SourceAuthenticated == in.AllowUnauthenticatedSource {
				t.Fatalf("%s: %v source reported authenticated %v (opt-in %v)", v.Name, out.FromSuite, out.SourceAuthenticated, in.AllowUnauthenticatedSource)
			}
			if out.To != envelope.FormatV3 || out.Size != int64(len(pt)) {
				t.Fatalf("%s: output %+v", v.Name, out)
			}
			// The stored user context moved to the new wrap: the v4
			// client is given it, as a reader of the original would be.
			var ec map[string]string
			if len(v.UserEncryptionContext) > 0 {
				ec = v.UserEncryptionContext
			}
			got, err := awsV4Get(v4Default)(ctx, t, h, key, ec)
			wantPlaintext(t, "aws v4 reads "+v.Name+" re-encrypted", got, err, pt)
			if v.InstructionFile != nil {
				if _, err := h.plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &h.bucket, Key: aws.String(key + ".instruction")}); err == nil {
					t.Fatalf("%s: the old instruction file is still there", v.Name)
				}
			}
			counts[out.From.String()+" "+out.FromSuite.CipherName()]++
		}
	}
	// V1 envelopes (x-amz-key, AES-CBC) of the Java client's legacy
	// encryption-only mode, wrapped by raw AES and RSA keys.
	vs, err := testvectors.Load(filepath.Join(testvectors.Dir(), "jce-raw-keyrings"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Negative() || v.Format != "v1" || v.Keyring == nil {
			continue
		}
		ct, err := v.Ciphertext()
		if err != nil {
			t.Fatal(err)
		}
		pt, err := v.Plaintext()
		if err != nil {
			t.Fatal(err)
		}
		key := "jce/" + v.Name
		if _, err := h.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &h.bucket, Key: &key, Body: bytes.NewReader(ct), Metadata: maps.Clone(v.Metadata)}); err != nil {
			t.Fatal(err)
		}
		c, err := encryptionclient.New(s3srv.Client(), rawKeyring(t, v.Keyring), func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
			o.EnableLegacyUnauthenticatedModes = true
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &h.bucket, Key: &key, Keyring: target, AllowUnauthenticatedSource: true})
		if err != nil {
			t.Fatalf("%s: ReEncrypt: %v", v.Name, err)
		}
		if out.SourceAuthenticated {
			t.Fatalf("%s: a V1 (CBC) source reported authenticated", v.Name)
		}
		got, err := awsV4Get(v4Default)(ctx, t, h, key, nil)
		wantPlaintext(t, "aws v4 reads "+v.Name+" re-encrypted", got, err, pt)
		counts[out.From.String()+" "+out.FromSuite.CipherName()]++
	}
	t.Logf("re-encrypted to V3 and read by AWS v4: %v", counts)
	for _, want := range []string{"V1 AES/CBC/PKCS5Padding", "V2 AES/CBC/PKCS5Padding", "V2 AES/GCM/NoPadding", "V3 115"} {
		if counts[want] == 0 {
			t.Errorf("no %s vector re-encrypted (%v)", want, counts)
		}
	}
}

// rawKeyring is the AES or RSA keyring a vector names, with the legacy
// wrapping algorithms enabled.
func rawKeyring(t *testing.T, k *testvectors.Keyring) materials.Keyring {
	t.Helper()
	switch k.Type {
	case "aes":
		key, err := base64.StdEncoding.DecodeString(k.KeyB64)
		if err != nil {
			t.Fatal(err)
		}
		kr, err := materials.NewAESKeyring(key, func(o *materials.AESKeyringOptions) {
			o.MaterialDescription = k.MaterialDescription
			o.EnableLegacyWrapping = true
		})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	case "rsa":
		priv, err := materials.ParseRSAPrivateKey([]byte(k.PrivateKeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		kr, err := materials.NewRSAKeyring(nil, priv, func(o *materials.RSAKeyringOptions) {
			o.MaterialDescription = k.MaterialDescription
			o.EnableLegacyWrapping = true
		})
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	t.Fatalf("keyring type %q", k.Type)
	return nil
}
