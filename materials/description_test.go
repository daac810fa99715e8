package materials_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"maps"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

func wantDescriptionError(t *testing.T, err error, field string) {
	t.Helper()
	var de *envelope.DescriptionError
	if !errors.Is(err, materials.ErrInvalidDescription) || !errors.As(err, &de) {
		t.Fatalf("got %v, want a DescriptionError", err)
	}
	if de.Field != field {
		t.Fatalf("field %q, want %q (%v)", de.Field, field, err)
	}
}

// A context or description that would not read back as written (JSON
// replaces invalid UTF-8 with U+FFFD) is refused before KMS is called or
// the keyring is built: otherwise the object is written and no read with
// the caller's context ever matches it.
func TestUnstorableContextRefused(t *testing.T) {
	srv := kmstest.New(t)
	kr := newKMSKeyringForTest(t, srv.Client(), srv.CreateKey())
	for _, ec := range []map[string]string{{"k": "\xff"}, {"\xc3": "v"}} {
		for _, s := range kmsSuites {
			srv.ResetCalls()
			_, err := kr.GenerateDataKey(context.Background(), &materials.EncryptionRequest{Suite: s, EncryptionContext: ec})
			wantDescriptionError(t, err, "encryption context")
			_, err = kr.WrapDataKey(context.Background(), &materials.WrapRequest{Suite: s, EncryptionContext: ec, Plaintext: make([]byte, 32)})
			wantDescriptionError(t, err, "encryption context")
			if n := srv.Calls("GenerateDataKey") + srv.Calls("Encrypt"); n != 0 {
				t.Fatalf("%d KMS calls for a refused context", n)
			}
		}
	}
	// Values that look like RFC 2047 encoded words are fine: they are
	// stored so that they read back exactly.
	for _, ec := range []map[string]string{{"k": "=?UTF-8?B?SGk=?="}, {"=?utf-8?q?a?= =?utf-8?q?b?=": "café"}} {
		dk := kmsGenerate(t, kr, envelope.SuiteAESGCMCommitting, ec)
		want := maps.Clone(ec)
		want[envelope.ReservedContextKey] = envelope.SuiteAESGCMCommitting.CipherName()
		if !maps.Equal(dk.Description, want) {
			t.Fatalf("description %q", dk.Description)
		}
	}
}

func TestUnstorableMaterialDescriptionRefused(t *testing.T) {
	bad := map[string]string{"k": "\xff"}
	_, err := materials.NewAESKeyring(make([]byte, 32), func(o *materials.AESKeyringOptions) { o.MaterialDescription = bad })
	wantDescriptionError(t, err, "AESKeyringOptions.MaterialDescription")
	_, err = materials.NewAESKeyring(make([]byte, 32), func(o *materials.AESKeyringOptions) {
		o.AdditionalKeys = []materials.AESKey{{Key: make([]byte, 32), MaterialDescription: bad}}
	})
	wantDescriptionError(t, err, "AESKeyringOptions.AdditionalKeys[0].MaterialDescription")

	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, err = materials.NewRSAKeyring(nil, priv, func(o *materials.RSAKeyringOptions) { o.MaterialDescription = bad })
	wantDescriptionError(t, err, "RSAKeyringOptions.MaterialDescription")
	_, err = materials.NewRSAKeyring(nil, priv, func(o *materials.RSAKeyringOptions) {
		o.AdditionalKeys = []materials.RSAKey{{PrivateKey: priv, MaterialDescription: bad}}
	})
	wantDescriptionError(t, err, "RSAKeyringOptions.AdditionalKeys[0].MaterialDescription")

	if _, err := materials.NewAESKeyring(make([]byte, 32), func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"k": "=?UTF-8?B?SGk=?="}
	}); err != nil {
		t.Fatal(err)
	}
}
