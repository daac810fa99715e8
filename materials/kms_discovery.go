package materials

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

var _ Keyring = (*KMSDiscoveryKeyring)(nil)

// KMSDiscoveryOptions configures a [KMSDiscoveryKeyring].
type KMSDiscoveryOptions struct {
	// AllowedKeyARNs, if not empty, limits the keyring to data keys that
	// KMS unwraps with one of these KMS keys. Each entry must be a full key
	// ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): KMS reports the key ARN, so
	// aliases and bare key ids would never match. A data key of another KMS
	// key is zeroed and refused with [ErrNotMine]. Default: any key the
	// caller may use.
	AllowedKeyARNs []string

	// GrantTokens are sent with every Decrypt request. At most 10, none
	// empty. Default: none.
	GrantTokens []string

	// EnableLegacyWrapping lets DecryptDataKey unwrap data keys of the
	// legacy "kms" wrap algorithm; see
	// [KMSKeyringOptions.EnableLegacyWrapping]. Default: false.
	EnableLegacyWrapping bool
}

// KMSDiscoveryKeyring unwraps KMS data keys without being told the KMS key:
// KMS Decrypt is sent without KeyId, and KMS finds the key from the wrapped
// key itself. It is decrypt-only. Use AllowedKeyARNs to keep it from using
// every key the caller's credentials can reach. It is safe for concurrent
// use.
type KMSDiscoveryKeyring struct {
	allowed []string
	u       kmsUnwrapper
}

// NewKMSDiscoveryKeyring returns a decrypt-only KMS keyring that uses client.
func NewKMSDiscoveryKeyring(client KMSClient, optFns ...func(*KMSDiscoveryOptions)) (*KMSDiscoveryKeyring, error) {
	if client == nil {
		return nil, errors.New("materials: kms discovery keyring: client is nil")
	}
	var o KMSDiscoveryOptions
	for _, fn := range optFns {
		if fn != nil { // a nil option sets nothing
			fn(&o)
		}
	}
	for _, arn := range o.AllowedKeyARNs {
		if typ, ok := parseKMSARN(arn); !ok || typ != "key" {
			return nil, fmt.Errorf("materials: kms discovery keyring: allowed key %q is not a KMS key ARN", arn)
		}
	}
	if err := checkKMSGrantTokens(o.GrantTokens); err != nil {
		return nil, err
	}
	return &KMSDiscoveryKeyring{
		allowed: slices.Clone(o.AllowedKeyARNs),
		u: kmsUnwrapper{
			client:       client,
			grantTokens:  slices.Clone(o.GrantTokens),
			legacy:       o.EnableLegacyWrapping,
			legacyOption: "materials.KMSDiscoveryOptions.EnableLegacyWrapping",
		},
	}, nil
}

// GenerateDataKey always fails: a discovery keyring has no KMS key to wrap
// new data keys with. Use a [KMSKeyring] to encrypt.
func (k *KMSDiscoveryKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	return nil, fmt.Errorf("%w: a kms discovery keyring has no key to encrypt with; use a KMSKeyring", ErrDecryptOnly)
}

// DecryptDataKey unwraps a kms+context data key (or, with
// EnableLegacyWrapping, a legacy kms one) with KMS Decrypt, without KeyId.
// It makes the same checks, and returns the same errors, as
// [KMSKeyring.DecryptDataKey]; in addition, when AllowedKeyARNs is set, a
// data key that KMS unwrapped with another key is zeroed and refused with
// [ErrNotMine].
func (k *KMSDiscoveryKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) ([]byte, error) {
	key, arn, err := k.u.unwrap(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := k.allows(arn); err != nil {
		clear(key)
		return nil, err
	}
	return key, nil
}

// allows checks the key ARN KMS reported against AllowedKeyARNs.
func (k *KMSDiscoveryKeyring) allows(arn string) error {
	if len(k.allowed) > 0 && !slices.Contains(k.allowed, arn) {
		return fmt.Errorf("%w: kms key %q is not in the discovery keyring's AllowedKeyARNs", ErrNotMine, arn)
	}
	return nil
}

// ReEncryptSources authorizes a KMS ReEncrypt of req.Key as DecryptDataKey
// authorizes a Decrypt: after the same checks, one source whose reported
// key ARN must be in AllowedKeyARNs, when it is set. With exactly one
// allowed key it is also sent as SourceKeyId, so that KMS itself refuses a
// wrapped key of another key. Without AllowedKeyARNs every key the
// caller's credentials may use is accepted, as on a read: a key whose key
// policy allows everyone included.
func (k *KMSDiscoveryKeyring) ReEncryptSources(req *DecryptionRequest) ([]ReEncryptSource, error) {
	if err := k.u.check(req); err != nil {
		return nil, err
	}
	src := ReEncryptSource{authorize: k.allows}
	if len(k.allowed) == 1 {
		src.KeyID = k.allowed[0]
	}
	return []ReEncryptSource{src}, nil
}
