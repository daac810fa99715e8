package objectcrypto_test

import (
	"bytes"
	"context"
	"crypto/fips140"
	"errors"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/fipsmode/fipstest"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/materials"
)

// Under GODEBUG=fips140=only the content cipher (GCM under a nonce stored
// in the envelope, chosen outside the module) is refused: both sealing a
// new object and opening an existing one fail with materials.ErrFIPS, the
// data key unwrap having worked (AES/GCM wrapping is the module's own).
func TestFIPSOnlyRefusesContent(t *testing.T) {
	if !fipstest.Under(t, "fips140=only") {
		return
	}
	ctx := context.Background()
	kr, err := materials.NewAESKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	policy := envelope.Policy{Commitment: envelope.RequireEncryptRequireDecrypt}
	if _, err := objectcrypto.NewSealer(ctx, kr, policy, nil, 10); !errors.Is(err, materials.ErrFIPS) {
		t.Fatalf("NewSealer under fips140=only: %v, want ErrFIPS", err)
	}
	var s *objectcrypto.Sealer
	fips140.WithoutEnforcement(func() { s, err = objectcrypto.NewSealer(ctx, kr, policy, nil, 10) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := objectcrypto.Open(ctx, kr, objectcrypto.DecryptOptions{Policy: policy}, s.Envelope); !errors.Is(err, materials.ErrFIPS) {
		t.Fatalf("Open under fips140=only: %v, want ErrFIPS", err)
	}
}
