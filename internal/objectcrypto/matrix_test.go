package objectcrypto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// TestRoundTripMatrix writes with every keyring under every commitment
// policy and reads under every policy: what a policy refuses must fail with
// a policy error before any key is unwrapped, everything else must round
// trip through both the verified and the streaming reader.
func TestRoundTripMatrix(t *testing.T) {
	srv := kmstest.New(t)
	kmsKR, err := materials.NewKMSKeyring(srv.Client(), srv.CreateKey())
	if err != nil {
		t.Fatal(err)
	}
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	aesKR, _ := materials.NewAESKeyring(aesKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaKR, _ := materials.NewRSAKeyring(&rsaKey.PublicKey, rsaKey)
	multi := materials.NewMulti(aesKR, kmsKR, rsaKR)
	keyrings := map[string]materials.Keyring{"kms": kmsKR, "aes": aesKR, "rsa": rsaKR, "multi": multi}
	policies := []envelope.CommitmentPolicy{envelope.RequireEncryptRequireDecrypt, envelope.RequireEncryptAllowDecrypt, envelope.ForbidEncryptAllowDecrypt}
	data := make([]byte, 70_001)
	rand.Read(data)
	for name, kr := range keyrings {
		for _, wp := range policies {
			s, err := objectcrypto.NewSealer(context.Background(), kr, envelope.Policy{Commitment: wp}, nil, int64(len(data)))
			if err != nil {
				t.Fatalf("%s %v: %v", name, wp, err)
			}
			wantFormat := envelope.FormatV3
			if wp == envelope.ForbidEncryptAllowDecrypt {
				wantFormat = envelope.FormatV2
			}
			if s.Envelope.Format != wantFormat {
				t.Fatalf("%s %v wrote %v", name, wp, s.Envelope.Format)
			}
			body, err := io.ReadAll(s.Reader(bytes.NewReader(data)))
			if err != nil {
				t.Fatal(err)
			}
			meta, _ := s.Envelope.Metadata()
			for _, rp := range policies {
				env, err := envelope.Decode(meta, nil)
				if err != nil {
					t.Fatal(err)
				}
				calls := srv.Calls("Decrypt")
				op, err := objectcrypto.Open(context.Background(), kr, objectcrypto.DecryptOptions{Policy: envelope.Policy{Commitment: rp}}, env)
				refused := wantFormat == envelope.FormatV2 && rp == envelope.RequireEncryptRequireDecrypt
				if refused {
					if !errors.Is(err, envelope.ErrPolicy) || srv.Calls("Decrypt") != calls {
						t.Fatalf("%s: V2 read under %v: %v (KMS calls %d)", name, rp, err, srv.Calls("Decrypt")-calls)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s %v→%v: %v", name, wp, rp, err)
				}
				got, err := op.ReadVerified(bytes.NewReader(body), 1<<20, int64(len(body)))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s %v→%v: verified read: %v", name, wp, rp, err)
				}
				vr, err := op.VerifiedReader(bytes.NewReader(body), 1<<20, -1)
				if err != nil {
					t.Fatalf("%s %v→%v: verified reader: %v", name, wp, rp, err)
				}
				if got, err := io.ReadAll(vr); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s %v→%v: verified reader: %v", name, wp, rp, err)
				}
				if _, err := op.VerifiedReader(bytes.NewReader(body), int64(len(data))-1, -1); !errors.Is(err, objectcrypto.ErrTooLarge) {
					t.Fatalf("verified reader, buffer limit: %v", err)
				}
				r, _ := op.UnverifiedReader(bytes.NewReader(body))
				if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s %v→%v: streaming read: %v", name, wp, rp, err)
				}
				if _, err := op.ReadVerified(bytes.NewReader(body), int64(len(data))-1, 0); !errors.Is(err, objectcrypto.ErrTooLarge) {
					t.Fatalf("buffer limit: %v", err)
				}
				if got, err := op.ReadVerified(bytes.NewReader(body), int64(len(data)), 0); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("buffer limit exactly the size: %v", err)
				}
				// The size hint is the plaintext length the server claims: when
				// it is right the buffer holds exactly that (no doubling at the
				// end); when it is wrong, either way, the read is still exact.
				if got, err := op.ReadVerified(bytes.NewReader(body), 1<<20, int64(len(data))); err != nil || !bytes.Equal(got, data) || cap(got) != len(data) {
					t.Fatalf("size hint exact: %v (capacity %d for %d bytes)", err, cap(got), len(data))
				}
				for _, hint := range []int64{1, int64(len(data)) / 2, int64(len(data)) + 100} {
					if got, err := op.ReadVerified(bytes.NewReader(body), 1<<20, hint); err != nil || !bytes.Equal(got, data) {
						t.Fatalf("size hint %d for %d bytes: %v", hint, len(data), err)
					}
				}
			}
		}
	}
}
