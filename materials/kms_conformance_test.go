package materials_test

import (
	"context"
	"testing"

	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
	"github.com/s3ec/s3ec-go/materials/keyringtest"
)

func TestConformanceKMS(t *testing.T) {
	srv := kmstest.New(t)
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	srv.CreateAlias("alias/conformance", keyA)
	for name, id := range map[string]string{"ARN": keyA, "Alias": "alias/conformance"} {
		t.Run(name, func(t *testing.T) {
			keyringtest.Run(t, keyringtest.Harness{
				New:             func(t *testing.T) materials.Keyring { return newKMSKeyringForTest(t, srv.Client(), id) },
				Other:           func(t *testing.T) materials.Keyring { return newKMSKeyringForTest(t, srv.Client(), keyB) },
				SupportsContext: true,
				Suites:          kmsSuites,
			})
		})
	}
}

// discoveryPair generates data keys with a KMSKeyring and unwraps them with
// a KMSDiscoveryKeyring, so that the decrypt-only keyring can run the
// conformance suite.
type discoveryPair struct {
	gen *materials.KMSKeyring
	dec *materials.KMSDiscoveryKeyring
}

func (p discoveryPair) GenerateDataKey(ctx context.Context, req *materials.EncryptionRequest) (*materials.DataKey, error) {
	return p.gen.GenerateDataKey(ctx, req)
}

func (p discoveryPair) DecryptDataKey(ctx context.Context, req *materials.DecryptionRequest) ([]byte, error) {
	return p.dec.DecryptDataKey(ctx, req)
}

func TestConformanceKMSDiscovery(t *testing.T) {
	srv := kmstest.New(t)
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	pair := func(t *testing.T, srv *kmstest.Server, key string, allowed []string) materials.Keyring {
		return discoveryPair{
			gen: newKMSKeyringForTest(t, srv.Client(), key),
			dec: newKMSDiscoveryForTest(t, srv.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = allowed }),
		}
	}
	t.Run("AllowList", func(t *testing.T) {
		// Other's keys are KMS-decryptable here but not on the allow-list.
		keyringtest.Run(t, keyringtest.Harness{
			New:             func(t *testing.T) materials.Keyring { return pair(t, srv, keyA, []string{keyA}) },
			Other:           func(t *testing.T) materials.Keyring { return pair(t, srv, keyB, []string{keyB}) },
			SupportsContext: true,
			Suites:          kmsSuites,
		})
	})
	t.Run("Open", func(t *testing.T) {
		// Without an allow-list every key of the same KMS unwraps, so Other
		// lives in another KMS.
		other := kmstest.New(t)
		keyC := other.CreateKey()
		keyringtest.Run(t, keyringtest.Harness{
			New:             func(t *testing.T) materials.Keyring { return pair(t, srv, keyA, nil) },
			Other:           func(t *testing.T) materials.Keyring { return pair(t, other, keyC, nil) },
			SupportsContext: true,
			Suites:          kmsSuites,
		})
	})
}
