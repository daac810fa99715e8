package objectcrypto_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// errorClasses maps the vectors' expect_error classes to the errors that
// satisfy them.
var errorClasses = map[string][]error{
	"authentication":      {envelope.ErrAuthentication},
	"key_unwrap":          {materials.ErrUnwrap, materials.ErrContextMismatch},
	"commitment_mismatch": {envelope.ErrCommitmentMismatch},
	"malformed_metadata":  {envelope.ErrMalformed, envelope.ErrPolicy},
	"invalid_ciphertext":  {envelope.ErrInvalidCiphertext},
}

func loadVectors(t *testing.T) []*testvectors.Vector {
	t.Helper()
	vs, err := testvectors.Load(testvectors.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) < 100 {
		t.Fatalf("found only %d vectors in %s", len(vs), testvectors.Dir())
	}
	return vs
}

// vectorKeyring builds the keyring a vector names: a local AES or RSA
// keyring, or a KMS keyring talking over HTTP to a KMS test server that
// holds the vector's data keys.
func vectorKeyring(t *testing.T, v *testvectors.Vector, srv *kmstest.Server) materials.Keyring {
	t.Helper()
	legacy := v.OptionBool("enable_legacy_wrapping_algorithms")
	if k := v.Keyring; k != nil {
		switch k.Type {
		case "aes":
			var extra []materials.AESKey
			for _, a := range k.AdditionalDecryptionKeys {
				extra = append(extra, materials.AESKey{Key: mustB64(t, a.KeyB64), MaterialDescription: a.MaterialDescription})
			}
			kr, err := materials.NewAESKeyring(mustB64(t, k.KeyB64), func(o *materials.AESKeyringOptions) {
				o.MaterialDescription = k.MaterialDescription
				o.AdditionalKeys = extra
				o.EnableLegacyWrapping = legacy
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
			pub, err := materials.ParseRSAPublicKey([]byte(k.PublicKeyPEM))
			if err != nil {
				t.Fatal(err)
			}
			var extra []materials.RSAKey
			for _, a := range k.AdditionalDecryptionKeys {
				p, err := materials.ParseRSAPrivateKey([]byte(a.PrivateKeyPEM))
				if err != nil {
					t.Fatal(err)
				}
				extra = append(extra, materials.RSAKey{PrivateKey: p, MaterialDescription: a.MaterialDescription})
			}
			kr, err := materials.NewRSAKeyring(pub, priv, func(o *materials.RSAKeyringOptions) {
				o.MaterialDescription = k.MaterialDescription
				o.AdditionalKeys = extra
				o.EnableLegacyWrapping = legacy
			})
			if err != nil {
				t.Fatal(err)
			}
			return kr
		}
		t.Fatalf("unknown keyring type %q", k.Type)
	}
	if len(v.KMS) == 0 {
		t.Fatal("vector names neither a keyring nor KMS data")
	}
	for _, e := range v.KMS {
		srv.ImportDataKey(e.KeyID, mustB64(t, e.CiphertextBlobB64), e.EncryptionContext, mustB64(t, e.PlaintextKeyB64))
	}
	kr, err := materials.NewKMSKeyring(srv.Client(), v.KMS[0].KeyID, func(o *materials.KMSKeyringOptions) {
		o.EnableLegacyWrapping = legacy
	})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func vectorPolicy(v *testvectors.Vector) envelope.Policy {
	if v.RequireDecrypt() {
		return envelope.Policy{Commitment: envelope.RequireEncryptRequireDecrypt}
	}
	return envelope.Policy{
		Commitment:            envelope.RequireEncryptAllowDecrypt,
		LegacyUnauthenticated: v.OptionBool("enable_legacy_unauthenticated_modes"),
	}
}

// decryptVector runs the whole read path on a vector: decode the envelope
// (from metadata and instruction file), open it and read the body
// verified. It returns the plaintext only on success.
func decryptVector(t *testing.T, v *testvectors.Vector, kr materials.Keyring, policy envelope.Policy) ([]byte, error) {
	t.Helper()
	var instr []byte
	if v.InstructionFile != nil {
		instr = []byte(v.InstructionFile.Body)
	}
	env, err := envelope.Decode(v.Metadata, instr)
	if err != nil {
		return nil, err
	}
	op, err := objectcrypto.Open(context.Background(), kr, objectcrypto.DecryptOptions{
		Policy:            policy,
		EncryptionContext: v.UserEncryptionContext,
	}, env)
	if err != nil {
		return nil, err
	}
	defer op.Close()
	body, err := v.Ciphertext()
	if err != nil {
		t.Fatal(err)
	}
	// The path GetObject takes by default: verified first, then decrypted
	// as it is read.
	r, err := op.VerifiedReader(bytes.NewReader(body), 1<<30, int64(len(body)))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestVectors(t *testing.T) {
	srv := kmstest.New(t)
	var pos, neg int
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			kr := vectorKeyring(t, v, srv)
			got, err := decryptVector(t, v, kr, vectorPolicy(v))
			if v.Negative() {
				neg++
				if err == nil {
					t.Fatalf("decrypted a negative vector (%s); want %s", v.Mutation, v.ExpectError)
				}
				if got != nil {
					t.Fatalf("released %d plaintext bytes on error %v", len(got), err)
				}
				classes, ok := errorClasses[v.ExpectError]
				if !ok {
					t.Fatalf("unknown error class %q", v.ExpectError)
				}
				for _, c := range classes {
					if errors.Is(err, c) {
						return
					}
				}
				t.Fatalf("error %q is not of class %s (%s)", err, v.ExpectError, v.Mutation)
			}
			pos++
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			if !v.PlaintextRef.Matches(got) {
				t.Fatalf("plaintext differs: %d bytes, want %d", len(got), v.PlaintextRef.Size)
			}
		})
	}
	t.Logf("%d positive and %d negative vectors", pos, neg)
}

// TestVectorsStreaming reads every positive vector through the streaming
// (unverified) reader with small reads, and every non-committing one again
// under the default policy, which must refuse it before unwrapping.
func TestVectorsStreaming(t *testing.T) {
	srv := kmstest.New(t)
	for _, v := range loadVectors(t) {
		if v.Negative() {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			kr := vectorKeyring(t, v, srv)
			var instr []byte
			if v.InstructionFile != nil {
				instr = []byte(v.InstructionFile.Body)
			}
			env, err := envelope.Decode(v.Metadata, instr)
			if err != nil {
				t.Fatal(err)
			}
			if env.Format.String() != map[string]string{"v1": "V1", "v2": "V2", "v3": "V3"}[v.Format] {
				t.Fatalf("format %v, vector says %s", env.Format, v.Format)
			}
			if env.InInstructionFile != (v.MetadataLocation == "instruction_file") {
				t.Fatalf("InInstructionFile = %v, vector says %s", env.InInstructionFile, v.MetadataLocation)
			}
			if !env.Suite.Committing() {
				before := srv.Calls("Decrypt")
				_, err := objectcrypto.Open(context.Background(), kr, objectcrypto.DecryptOptions{EncryptionContext: v.UserEncryptionContext}, env)
				if !errors.Is(err, envelope.ErrPolicy) {
					t.Fatalf("default policy: got %v, want a policy error", err)
				}
				if srv.Calls("Decrypt") != before {
					t.Fatal("default policy called KMS Decrypt before refusing the algorithm")
				}
			}
			op, err := objectcrypto.Open(context.Background(), kr, objectcrypto.DecryptOptions{
				Policy: vectorPolicy(v), EncryptionContext: v.UserEncryptionContext,
			}, env)
			if err != nil {
				t.Fatal(err)
			}
			defer op.Close()
			body, _ := v.Ciphertext()
			r, err := op.UnverifiedReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			buf := make([]byte, 7)
			for {
				n, err := r.Read(buf)
				out.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !v.PlaintextRef.Matches(out.Bytes()) {
				t.Fatal("streamed plaintext differs")
			}
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
