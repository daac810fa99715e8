package materials

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/s3ec/s3ec-go/envelope"
)

// KMSClient is the part of the AWS KMS API that the KMS keyrings call, with
// the SDK's own method signatures: a *kms.Client satisfies it, and so does
// any wrapper or test double with the same methods.
type KMSClient interface {
	GenerateDataKey(ctx context.Context, params *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, params *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var (
	_ KMSClient = (*kms.Client)(nil)
	_ Keyring   = (*KMSKeyring)(nil)
)

// maxGrantTokens is the most grant tokens KMS accepts in one request.
const maxGrantTokens = 10

// KMSKeyringOptions configures a [KMSKeyring].
type KMSKeyringOptions struct {
	// GrantTokens are sent with every GenerateDataKey and Decrypt request,
	// for keys whose use is allowed by a grant that has not yet reached
	// eventual consistency. At most 10, none empty. Default: none.
	GrantTokens []string

	// EnableLegacyWrapping lets DecryptDataKey unwrap data keys of the
	// legacy "kms" wrap algorithm, written by the AWS SDK for Go v1
	// EncryptionClient (V1) and older clients. Such keys are not bound to
	// the content algorithm and carry no caller encryption context, so a
	// caller context is refused for them. New data keys always use
	// kms+context. Default: false, and such keys fail with an
	// [*envelope.PolicyError].
	EnableLegacyWrapping bool
}

// KMSKeyring wraps data keys with AWS KMS, as the S3 Encryption Clients'
// KMS keyring does (wrap algorithm kms+context): GenerateDataKey asks KMS for
// a data key under one KMS key, bound to the caller's encryption context plus
// the reserved entry aws:x-amz-cek-alg naming the content suite. It is safe
// for concurrent use.
//
// To decrypt objects written under several KMS keys, or under keys you only
// know at read time, use a [KMSDiscoveryKeyring].
type KMSKeyring struct {
	keyID string
	u     kmsUnwrapper
}

// NewKMSKeyring returns a keyring that uses the KMS key keyID through
// client. keyID may be a key id, key ARN, alias name (alias/NAME) or alias
// ARN; it is sent as is on every request, so Decrypt fails with
// IncorrectKeyException for data keys of another key (for an alias: of
// another key than the alias names now).
func NewKMSKeyring(client KMSClient, keyID string, optFns ...func(*KMSKeyringOptions)) (*KMSKeyring, error) {
	if client == nil {
		return nil, errors.New("materials: kms keyring: client is nil")
	}
	if err := checkKMSKeyID(keyID); err != nil {
		return nil, err
	}
	var o KMSKeyringOptions
	for _, fn := range optFns {
		fn(&o)
	}
	if err := checkKMSGrantTokens(o.GrantTokens); err != nil {
		return nil, err
	}
	return &KMSKeyring{
		keyID: keyID,
		u: kmsUnwrapper{
			client:       client,
			keyID:        keyID,
			grantTokens:  slices.Clone(o.GrantTokens),
			legacy:       o.EnableLegacyWrapping,
			legacyOption: "materials.KMSKeyringOptions.EnableLegacyWrapping",
		},
	}, nil
}

// KeyID returns the KMS key id the keyring was configured with.
func (k *KMSKeyring) KeyID() string { return k.keyID }

// GenerateDataKey asks KMS for a new AES-256 data key under the keyring's
// KMS key. The encryption context sent to KMS, and stored as the returned
// Description, is req.EncryptionContext plus aws:x-amz-cek-alg =
// req.Suite.CipherName(). req.Suite must be [envelope.SuiteAESGCM] or
// [envelope.SuiteAESGCMCommitting]; a caller context that uses
// aws:x-amz-cek-alg or kms_cmk_id is refused with [ErrReservedContextKey].
// KMS errors are wrapped and stay reachable with errors.As.
func (k *KMSKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: kms generate data key: %w", err)
	}
	if req == nil {
		return nil, errors.New("materials: nil EncryptionRequest")
	}
	if req.Suite != envelope.SuiteAESGCM && req.Suite != envelope.SuiteAESGCMCommitting {
		return nil, fmt.Errorf("materials: kms keyring cannot generate a data key for content suite %v", req.Suite)
	}
	ec := make(map[string]string, len(req.EncryptionContext)+1)
	for name, v := range req.EncryptionContext {
		if isKMSReservedKey(name) {
			return nil, fmt.Errorf("%w: %q (kms keyring)", ErrReservedContextKey, name)
		}
		ec[name] = v
	}
	ec[envelope.ReservedContextKey] = req.Suite.CipherName()

	out, err := k.u.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(k.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: maps.Clone(ec),
		GrantTokens:       slices.Clone(k.u.grantTokens),
	})
	if err != nil {
		return nil, kmsCallError(ctx, "generate data key", err)
	}
	if out == nil {
		return nil, errors.New("materials: kms generate data key: empty response")
	}
	if len(out.Plaintext) != envelope.DataKeySize || len(out.CiphertextBlob) == 0 {
		n := len(out.Plaintext)
		clear(out.Plaintext)
		return nil, fmt.Errorf("materials: kms generate data key: kms returned a %d-byte data key and a %d-byte wrapped key, want %d and more than 0",
			n, len(out.CiphertextBlob), envelope.DataKeySize)
	}
	return &DataKey{
		Plaintext: out.Plaintext,
		EncryptedDataKey: EncryptedDataKey{
			WrapAlgorithm: envelope.WrapKMSContext,
			Ciphertext:    out.CiphertextBlob,
			Description:   ec,
		},
	}, nil
}

// DecryptDataKey unwraps a kms+context data key (or, with
// EnableLegacyWrapping, a legacy kms one) with KMS Decrypt, sending the
// stored Description as the encryption context and the keyring's key id as
// KeyId.
//
// Before it calls KMS it checks, for kms+context, that the stored
// aws:x-amz-cek-alg names req.Suite (else an [*envelope.MalformedError]) and
// that the stored context without its reserved entries equals
// req.EncryptionContext (else [ErrContextMismatch]; nil and empty are the
// same). Other wrap algorithms fail with [ErrNotMine].
//
// A KMS InvalidCiphertextException or IncorrectKeyException (altered or
// foreign wrapped key, altered context) gives an error wrapping [ErrUnwrap];
// other KMS errors (throttling, disabled key, access denied, network) are
// wrapped as they are. Either way the SDK error stays reachable with
// errors.As.
func (k *KMSKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) ([]byte, error) {
	key, _, err := k.u.unwrap(ctx, req)
	return key, err
}

// kmsUnwrapper is the decrypt side shared by KMSKeyring and
// KMSDiscoveryKeyring.
type kmsUnwrapper struct {
	client       KMSClient
	keyID        string // sent as KeyId; empty for discovery
	grantTokens  []string
	legacy       bool
	legacyOption string // the option that enables legacy wrapping
}

// unwrap checks req, calls KMS Decrypt and returns the data key and the ARN
// of the KMS key that KMS says unwrapped it.
func (u *kmsUnwrapper) unwrap(ctx context.Context, req *DecryptionRequest) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("materials: kms decrypt: %w", err)
	}
	if req == nil {
		return nil, "", errors.New("materials: nil DecryptionRequest")
	}
	switch req.Key.WrapAlgorithm {
	case envelope.WrapKMSContext:
		if err := checkKMSContext(req); err != nil {
			return nil, "", err
		}
	case envelope.WrapKMS:
		if !u.legacy {
			return nil, "", &envelope.PolicyError{What: "legacy wrapping algorithm kms", Option: u.legacyOption}
		}
		// The legacy wrap binds only the material description: a caller
		// that expects a context must not be satisfied by an object that
		// was downgraded to it.
		if len(req.EncryptionContext) > 0 {
			return nil, "", fmt.Errorf("%w: the legacy kms wrap carries no caller encryption context", ErrContextMismatch)
		}
	default:
		return nil, "", fmt.Errorf("%w: the kms keyring does not read wrap algorithm %q", ErrNotMine, req.Key.WrapAlgorithm)
	}
	if len(req.Key.Ciphertext) == 0 {
		return nil, "", &envelope.MalformedError{Field: "encrypted data key", Reason: "empty"}
	}

	in := &kms.DecryptInput{
		CiphertextBlob:    req.Key.Ciphertext,
		EncryptionContext: maps.Clone(req.Key.Description),
		GrantTokens:       slices.Clone(u.grantTokens),
	}
	if u.keyID != "" {
		in.KeyId = aws.String(u.keyID)
	}
	out, err := u.client.Decrypt(ctx, in)
	if err != nil {
		var invalid *types.InvalidCiphertextException
		var incorrect *types.IncorrectKeyException
		if ctx.Err() == nil && (errors.As(err, &invalid) || errors.As(err, &incorrect)) {
			return nil, "", fmt.Errorf("%w: kms decrypt: %w", ErrUnwrap, err)
		}
		return nil, "", kmsCallError(ctx, "decrypt", err)
	}
	if out == nil {
		return nil, "", errors.New("materials: kms decrypt: empty response")
	}
	if len(out.Plaintext) != envelope.DataKeySize {
		n := len(out.Plaintext)
		clear(out.Plaintext)
		return nil, "", fmt.Errorf("%w: kms decrypt returned a %d-byte data key, want %d", ErrUnwrap, n, envelope.DataKeySize)
	}
	return out.Plaintext, aws.ToString(out.KeyId), nil
}

// kmsCallError wraps an error from a KMS call. When ctx is done the error
// also wraps ctx.Err(), whatever the SDK made of it.
func kmsCallError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("materials: kms %s: %w: %w", op, ctxErr, err)
	}
	return fmt.Errorf("materials: kms %s: %w", op, err)
}

// checkKMSContext runs the kms+context checks that come before KMS is
// called.
func checkKMSContext(req *DecryptionRequest) error {
	stored := req.Key.Description
	want := req.Suite.CipherName()
	alg, ok := stored[envelope.ReservedContextKey]
	switch {
	case !ok:
		return &envelope.MalformedError{Field: "encryption context", Reason: "no " + envelope.ReservedContextKey + " entry"}
	case !req.Suite.Known():
		return &envelope.MalformedError{Field: "encryption context", Reason: fmt.Sprintf("unknown content suite %v", req.Suite)}
	case alg != want:
		return &envelope.MalformedError{Field: "encryption context", Reason: fmt.Sprintf("%s is %q but the content algorithm is %q", envelope.ReservedContextKey, alg, want)}
	}
	for name := range req.EncryptionContext {
		if isKMSReservedKey(name) {
			return fmt.Errorf("%w: %q (kms keyring)", ErrReservedContextKey, name)
		}
	}
	n := 0
	for name, v := range stored {
		if isKMSReservedKey(name) {
			continue
		}
		n++
		if got, ok := req.EncryptionContext[name]; !ok || got != v {
			return kmsContextMismatch(stored, req.EncryptionContext)
		}
	}
	if n != len(req.EncryptionContext) {
		return kmsContextMismatch(stored, req.EncryptionContext)
	}
	return nil
}

// kmsContextMismatch names the keys of both contexts, never their values.
func kmsContextMismatch(stored, expected map[string]string) error {
	var s []string
	for name := range stored {
		if !isKMSReservedKey(name) {
			s = append(s, name)
		}
	}
	sort.Strings(s)
	e := slices.Sorted(maps.Keys(expected))
	return fmt.Errorf("%w: stored context has keys %q, expected context has keys %q (kms keyring)", ErrContextMismatch, s, e)
}

func isKMSReservedKey(name string) bool {
	return name == envelope.ReservedContextKey || name == envelope.LegacyKMSKeyIDKey
}

// checkKMSKeyID accepts a key id, key ARN, alias/NAME or alias ARN.
func checkKMSKeyID(id string) error {
	switch {
	case id == "":
		return errors.New("materials: kms keyring: key id is empty")
	case len(id) > 2048:
		return errors.New("materials: kms keyring: key id is longer than 2048 characters")
	case strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("materials: kms keyring: key id %q contains white space or control characters", id)
	case strings.HasPrefix(id, "arn:"):
		if _, ok := parseKMSARN(id); !ok {
			return fmt.Errorf("materials: kms keyring: %q is not a KMS key or alias ARN", id)
		}
	case strings.HasPrefix(id, "alias/"):
		if len(id) == len("alias/") {
			return errors.New("materials: kms keyring: alias name is empty")
		}
	}
	return nil
}

// parseKMSARN returns the resource type ("key" or "alias") of a KMS key or
// alias ARN.
func parseKMSARN(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "kms" || parts[3] == "" || parts[4] == "" {
		return "", false
	}
	typ, name, ok := strings.Cut(parts[5], "/")
	if !ok || name == "" || (typ != "key" && typ != "alias") {
		return "", false
	}
	return typ, true
}

func checkKMSGrantTokens(tokens []string) error {
	if len(tokens) > maxGrantTokens {
		return fmt.Errorf("materials: kms keyring: %d grant tokens, at most %d are allowed", len(tokens), maxGrantTokens)
	}
	for i, g := range tokens {
		if g == "" {
			return fmt.Errorf("materials: kms keyring: grant token %d is empty", i)
		}
	}
	return nil
}
