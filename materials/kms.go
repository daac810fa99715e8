package materials

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/answerlimit"
)

// KMSClient is the part of the AWS KMS API that the KMS keyrings call, with
// the SDK's own method signatures: a *kms.Client satisfies it, and so does
// any wrapper or test double with the same methods.
type KMSClient interface {
	GenerateDataKey(ctx context.Context, params *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, params *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMSEncryptClient is the optional part of the KMS API that
// [KMSKeyring.WrapDataKey] calls, with the SDK's signature. A *kms.Client
// satisfies it; a [KMSClient] that lacks it still works for everything
// else.
type KMSEncryptClient interface {
	Encrypt(ctx context.Context, params *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
}

// KMSReEncryptClient is the optional part of the KMS API that
// [KMSKeyring.ReEncryptDataKey] calls, with the SDK's signature. A
// *kms.Client satisfies it.
type KMSReEncryptClient interface {
	ReEncrypt(ctx context.Context, params *kms.ReEncryptInput, optFns ...func(*kms.Options)) (*kms.ReEncryptOutput, error)
}

var (
	_ KMSClient          = (*kms.Client)(nil)
	_ KMSEncryptClient   = (*kms.Client)(nil)
	_ KMSReEncryptClient = (*kms.Client)(nil)
	_ Keyring            = (*KMSKeyring)(nil)
)

// maxKMSAnswer bounds the body of every KMS answer the keyrings read, error
// or success: the SDK decodes the JSON whole (an error's body is copied
// whole into memory first), so a lying endpoint could otherwise make the
// process allocate without end. Honest answers are a few KiB: the largest
// field is a CiphertextBlob of at most 6144 bytes (8 KiB in base64),
// beside a key ARN, a 32-byte plaintext and an algorithm name; an error
// is a type and a message of a few hundred bytes.
const maxKMSAnswer = 64 << 10

// boundKMSAnswer is the per-call option every KMS request of the keyrings
// carries: the answer's body is read at most maxKMSAnswer bytes far, below
// the SDK's deserializer; past that the call fails with ErrKMSResponse,
// which the SDK's retryer does not retry. A KMSClient that is not a
// *kms.Client (a wrapper, a test double) may ignore it.
func boundKMSAnswer(o *kms.Options) {
	o.APIOptions = append(o.APIOptions, answerlimit.Add("S3ECBoundKMSAnswer", answerlimit.Fixed(maxKMSAnswer), ErrKMSResponse))
}

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
		if fn != nil { // a nil option sets nothing
			fn(&o)
		}
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
// aws:x-amz-cek-alg or kms_cmk_id is refused with [ErrReservedContextKey],
// and one that cannot be stored so that it reads back exactly (a name or
// value that is not valid UTF-8) with [ErrInvalidDescription], before KMS
// is called. KMS errors are wrapped and stay reachable with errors.As.
func (k *KMSKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: kms generate data key: %w", err)
	}
	if req == nil {
		return nil, errors.New("materials: nil EncryptionRequest")
	}
	ec, err := kmsWrapContext("generate a data key", req.Suite, req.EncryptionContext)
	if err != nil {
		return nil, err
	}

	out, err := k.u.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(k.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: maps.Clone(ec),
		GrantTokens:       slices.Clone(k.u.grantTokens),
	}, boundKMSAnswer)
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
	if err := checkReportedKey("generate data key", k.keyID, aws.ToString(out.KeyId)); err != nil {
		clear(out.Plaintext)
		return nil, err
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

// kmsWrapContext returns the KMS encryption context of a new kms+context
// wrap: the caller's context plus aws:x-amz-cek-alg naming the suite.
func kmsWrapContext(op string, s envelope.Suite, caller map[string]string) (map[string]string, error) {
	if s != envelope.SuiteAESGCM && s != envelope.SuiteAESGCMCommitting {
		return nil, fmt.Errorf("materials: kms keyring cannot %s for content suite %v", op, s)
	}
	ec := make(map[string]string, len(caller)+1)
	for name, v := range caller {
		if isKMSReservedKey(name) {
			return nil, fmt.Errorf("%w: %q (kms keyring)", ErrReservedContextKey, name)
		}
		ec[name] = v
	}
	ec[envelope.ReservedContextKey] = s.CipherName()
	// Stored with the object, the context must read back exactly, or no
	// read with the caller's context would ever match it: refuse before
	// KMS binds it.
	if err := envelope.CheckDescription("encryption context", ec); err != nil {
		return nil, err
	}
	return ec, nil
}

// WrapDataKey wraps req.Plaintext with KMS Encrypt under the keyring's KMS
// key, bound to req.EncryptionContext plus aws:x-amz-cek-alg =
// req.Suite.CipherName() (the context stored as the returned Description),
// exactly as GenerateDataKey binds a new key. The KMS client must also be a
// [KMSEncryptClient]; otherwise the error wraps [errors.ErrUnsupported].
// req.Replaces is not checked: KMS blobs do not say which key wrapped them
// without a KMS call. Use [KMSKeyring.ReEncryptDataKey] to move a KMS-wrapped
// key. The plaintext key is sent to KMS in the request; the caller zeroes
// its own copy.
func (k *KMSKeyring) WrapDataKey(ctx context.Context, req *WrapRequest) (*EncryptedDataKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: kms encrypt: %w", err)
	}
	if req == nil {
		return nil, errors.New("materials: nil WrapRequest")
	}
	if len(req.Plaintext) != envelope.DataKeySize {
		return nil, fmt.Errorf("materials: data key to wrap is %d bytes, want %d", len(req.Plaintext), envelope.DataKeySize)
	}
	ec, err := kmsWrapContext("wrap a data key", req.Suite, req.EncryptionContext)
	if err != nil {
		return nil, err
	}
	enc, ok := k.u.client.(KMSEncryptClient)
	if !ok {
		return nil, fmt.Errorf("materials: kms keyring: the KMS client has no Encrypt method: %w", errors.ErrUnsupported)
	}
	out, err := enc.Encrypt(ctx, &kms.EncryptInput{
		KeyId:               aws.String(k.keyID),
		Plaintext:           req.Plaintext,
		EncryptionContext:   maps.Clone(ec),
		EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
		GrantTokens:         slices.Clone(k.u.grantTokens),
	}, boundKMSAnswer)
	if err != nil {
		return nil, kmsCallError(ctx, "encrypt", err)
	}
	if out == nil || len(out.CiphertextBlob) == 0 {
		return nil, errors.New("materials: kms encrypt: empty response")
	}
	if err := checkReportedKey("encrypt", k.keyID, aws.ToString(out.KeyId)); err != nil {
		return nil, err
	}
	return &EncryptedDataKey{WrapAlgorithm: envelope.WrapKMSContext, Ciphertext: out.CiphertextBlob, Description: ec}, nil
}

// ReEncryptDataKey moves req.Key, a kms+context data key (or, with
// EnableLegacyWrapping, a legacy kms one), under the keyring's KMS key with
// KMS ReEncrypt: the stored Description is sent as the source encryption
// context and req.EncryptionContext plus aws:x-amz-cek-alg as the
// destination context (stored as the returned Description, with wrap
// algorithm kms+context). The plaintext data key never reaches the caller.
//
// It makes the checks of [KMSKeyring.DecryptDataKey] on req.Key, with
// req.SourceEncryptionContext as the expected context, before it calls
// KMS, and maps KMS errors the same way. It sends req.SourceKeyID as
// SourceKeyId. Of KMS's answer it checks that the destination key is the
// keyring's and the source key the one of req.SourceKeyID (an error
// wrapping [ErrUnwrap] otherwise; see [KMSKeyring.DecryptDataKey] for what
// can be checked), then calls req.AuthorizeSource with the source key ARN;
// only then, when KMS reports the same key ARN for source and destination,
// it fails with [ErrSameWrappingKey] unless req.AllowSameKey is set. A
// refused answer's wrapped key is discarded. The KMS client must also be a
// [KMSReEncryptClient]; otherwise the error wraps [errors.ErrUnsupported].
func (k *KMSKeyring) ReEncryptDataKey(ctx context.Context, req *ReEncryptRequest) (*ReEncryptedDataKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: kms re-encrypt: %w", err)
	}
	if req == nil {
		return nil, errors.New("materials: nil ReEncryptRequest")
	}
	if err := k.u.check(&DecryptionRequest{Suite: req.Suite, Key: req.Key, EncryptionContext: req.SourceEncryptionContext}); err != nil {
		return nil, err
	}
	ec, err := kmsWrapContext("re-encrypt a data key", req.Suite, req.EncryptionContext)
	if err != nil {
		return nil, err
	}
	rc, ok := k.u.client.(KMSReEncryptClient)
	if !ok {
		return nil, fmt.Errorf("materials: kms keyring: the KMS client has no ReEncrypt method: %w", errors.ErrUnsupported)
	}
	in := &kms.ReEncryptInput{
		CiphertextBlob:                 req.Key.Ciphertext,
		SourceEncryptionContext:        maps.Clone(req.Key.Description),
		DestinationKeyId:               aws.String(k.keyID),
		DestinationEncryptionContext:   maps.Clone(ec),
		SourceEncryptionAlgorithm:      types.EncryptionAlgorithmSpecSymmetricDefault,
		DestinationEncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
		GrantTokens:                    slices.Clone(k.u.grantTokens),
	}
	if req.SourceKeyID != "" {
		in.SourceKeyId = aws.String(req.SourceKeyID)
	}
	out, err := rc.ReEncrypt(ctx, in, boundKMSAnswer)
	if err != nil {
		return nil, kmsUnwrapError(ctx, "re-encrypt", err)
	}
	if out == nil || len(out.CiphertextBlob) == 0 {
		return nil, errors.New("materials: kms re-encrypt: empty response")
	}
	src, dst := aws.ToString(out.SourceKeyId), aws.ToString(out.KeyId)
	if err := checkReportedKey("re-encrypt (destination)", k.keyID, dst); err != nil {
		return nil, err
	}
	if req.SourceKeyID != "" {
		if err := checkReportedKey("re-encrypt (source)", req.SourceKeyID, src); err != nil {
			return nil, err
		}
	}
	if req.AuthorizeSource != nil {
		if err := req.AuthorizeSource(src); err != nil {
			return nil, err
		}
	}
	if !req.AllowSameKey && src != "" && src == dst {
		return nil, fmt.Errorf("%w: kms key %q", ErrSameWrappingKey, dst)
	}
	return &ReEncryptedDataKey{
		EncryptedDataKey: EncryptedDataKey{WrapAlgorithm: envelope.WrapKMSContext, Ciphertext: out.CiphertextBlob, Description: ec},
		SourceKeyID:      src,
		KeyID:            dst,
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
// same). For the legacy kms wrap, whose material description is the KMS
// encryption context, a non-empty req.EncryptionContext must equal the
// stored description without its kms_cmk_id entry (same keys, same values;
// else [ErrContextMismatch]); an empty one is not compared. Other wrap
// algorithms fail with [ErrNotMine].
//
// KMS's answer must name the keyring's key: when the keyring was configured
// with a key ARN, the ARN KMS reports must be that ARN; with a bare key id,
// a key ARN of that id. (An alias cannot be checked without a lookup: KMS
// itself refuses a wrapped key of another key than the alias names.) A
// data key of an answer that names another key is zeroed and refused with
// [ErrUnwrap].
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
	if err := u.check(req); err != nil {
		return nil, "", err
	}

	in := &kms.DecryptInput{
		CiphertextBlob:    req.Key.Ciphertext,
		EncryptionContext: maps.Clone(req.Key.Description),
		GrantTokens:       slices.Clone(u.grantTokens),
	}
	if u.keyID != "" {
		in.KeyId = aws.String(u.keyID)
	}
	out, err := u.client.Decrypt(ctx, in, boundKMSAnswer)
	if err != nil {
		return nil, "", kmsUnwrapError(ctx, "decrypt", err)
	}
	if out == nil {
		return nil, "", errors.New("materials: kms decrypt: empty response")
	}
	if len(out.Plaintext) != envelope.DataKeySize {
		n := len(out.Plaintext)
		clear(out.Plaintext)
		return nil, "", fmt.Errorf("%w: kms decrypt returned a %d-byte data key, want %d", ErrUnwrap, n, envelope.DataKeySize)
	}
	reported := aws.ToString(out.KeyId)
	if u.keyID != "" {
		if err := checkReportedKey("decrypt", u.keyID, reported); err != nil {
			clear(out.Plaintext)
			return nil, "", err
		}
	}
	return out.Plaintext, reported, nil
}

// ReEncryptSources authorizes a KMS ReEncrypt of req.Key as DecryptDataKey
// authorizes a Decrypt: after the same checks, one source, the keyring's
// key id sent as SourceKeyId (so that KMS refuses a wrapped key of any
// other key), whose reported ARN must name the keyring's key as
// DecryptDataKey requires.
func (k *KMSKeyring) ReEncryptSources(req *DecryptionRequest) ([]ReEncryptSource, error) {
	if err := k.u.check(req); err != nil {
		return nil, err
	}
	id := k.keyID
	return []ReEncryptSource{{KeyID: id, authorize: func(reported string) error {
		return checkReportedKey("re-encrypt (source)", id, reported)
	}}}, nil
}

// kmsKeyMatches reports whether reported, a key ARN that KMS answered with,
// names the key configured as id, as far as that can be told without a KMS
// call: a key ARN must be equal, a bare key id must be the ARN's key id;
// an alias name or alias ARN cannot be checked (true).
func kmsKeyMatches(id, reported string) bool {
	switch {
	case strings.HasPrefix(id, "alias/"):
		return true
	case strings.HasPrefix(id, "arn:"):
		if typ, _ := parseKMSARN(id); typ == "alias" {
			return true
		}
		return reported == id
	}
	if reported == id {
		return true
	}
	typ, ok := parseKMSARN(reported)
	return ok && typ == "key" && strings.HasSuffix(reported, ":key/"+id)
}

// checkReportedKey refuses a KMS answer that names another key than id.
func checkReportedKey(op, id, reported string) error {
	if kmsKeyMatches(id, reported) {
		return nil
	}
	return fmt.Errorf("%w: kms %s reported key %q, not the requested %q", ErrUnwrap, op, reported, id)
}

// check runs the checks on a stored key that come before KMS is called.
func (u *kmsUnwrapper) check(req *DecryptionRequest) error {
	switch req.Key.WrapAlgorithm {
	case envelope.WrapKMSContext:
		if err := checkKMSContext(req); err != nil {
			return err
		}
	case envelope.WrapKMS:
		if !u.legacy {
			return &envelope.PolicyError{What: "legacy wrapping algorithm kms", Option: u.legacyOption}
		}
		// The legacy wrap's material description is its KMS encryption
		// context: {kms_cmk_id, <the writer's context>}. A caller context,
		// when there is one, must be exactly the description without
		// kms_cmk_id (as AWS's clients accept it); none is not compared.
		if len(req.EncryptionContext) > 0 {
			if err := matchUserContext(req.Key.Description, req.EncryptionContext, isLegacyKMSKey); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: the kms keyring does not read wrap algorithm %q", ErrNotMine, req.Key.WrapAlgorithm)
	}
	if len(req.Key.Ciphertext) == 0 {
		return &envelope.MalformedError{Field: "encrypted data key", Reason: "empty"}
	}
	return nil
}

// kmsUnwrapError wraps the error of a KMS call that unwraps a stored key
// (Decrypt, ReEncrypt): an altered or foreign wrapped key or context
// becomes ErrUnwrap.
func kmsUnwrapError(ctx context.Context, op string, err error) error {
	var invalid *types.InvalidCiphertextException
	var incorrect *types.IncorrectKeyException
	if ctx.Err() == nil && (errors.As(err, &invalid) || errors.As(err, &incorrect)) {
		return fmt.Errorf("%w: kms %s: %w", ErrUnwrap, op, err)
	}
	return kmsCallError(ctx, op, err)
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
	return matchUserContext(stored, req.EncryptionContext, isKMSReservedKey)
}

// matchUserContext is the one comparison of a stored KMS encryption context
// with the caller's (expected), for both KMS wraps and for reads and
// re-wraps alike: expected may hold no reserved key (aws:x-amz-cek-alg,
// kms_cmk_id; else [ErrReservedContextKey]), and the stored context without
// the entries skip names must have exactly expected's keys with the same
// values (byte-wise; else [ErrContextMismatch]). nil and empty are the same.
// kms+context skips both reserved keys, the legacy kms wrap only
// kms_cmk_id.
func matchUserContext(stored, expected map[string]string, skip func(string) bool) error {
	for name := range expected {
		if isKMSReservedKey(name) {
			return fmt.Errorf("%w: %q (kms keyring)", ErrReservedContextKey, name)
		}
	}
	n := 0
	for name, v := range stored {
		if skip(name) {
			continue
		}
		n++
		if got, ok := expected[name]; !ok || got != v {
			return kmsContextMismatch(stored, expected, skip)
		}
	}
	if n != len(expected) {
		return kmsContextMismatch(stored, expected, skip)
	}
	return nil
}

// kmsContextMismatch says how the stored context differs from the
// expected one: the keys stored but not expected, the keys expected but not
// stored, and the keys whose values differ, with both values. Context
// values are stored in the clear beside the object (they are no secret, and
// KMS logs them); a value is shown quoted and cut at maxShownValue bytes.
func kmsContextMismatch(stored, expected map[string]string, skip func(string) bool) error {
	var onlyStored, onlyExpected, differ []string
	for _, name := range slices.Sorted(maps.Keys(stored)) {
		if skip(name) {
			continue
		}
		want, ok := expected[name]
		switch {
		case !ok:
			onlyStored = append(onlyStored, fmt.Sprintf("%q=%s", name, shownValue(stored[name])))
		case want != stored[name]:
			differ = append(differ, fmt.Sprintf("%q is %s, expected %s", name, shownValue(stored[name]), shownValue(want)))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(expected)) {
		if _, ok := stored[name]; !ok || skip(name) {
			onlyExpected = append(onlyExpected, fmt.Sprintf("%q=%s", name, shownValue(expected[name])))
		}
	}
	var parts []string
	if len(differ) > 0 {
		parts = append(parts, "stored value of "+strings.Join(differ, ", "))
	}
	if len(onlyStored) > 0 {
		parts = append(parts, "stored but not expected: "+strings.Join(onlyStored, ", "))
	}
	if len(onlyExpected) > 0 {
		parts = append(parts, "expected but not stored: "+strings.Join(onlyExpected, ", "))
	}
	return fmt.Errorf("%w: %s (kms keyring)", ErrContextMismatch, strings.Join(parts, "; "))
}

// maxShownValue is the most of a context value an error shows.
const maxShownValue = 64

// shownValue quotes a context value for an error, cut at maxShownValue
// bytes.
func shownValue(v string) string {
	if len(v) > maxShownValue {
		return fmt.Sprintf("%q... (%d bytes)", v[:maxShownValue], len(v))
	}
	return fmt.Sprintf("%q", v)
}

func isLegacyKMSKey(name string) bool { return name == envelope.LegacyKMSKeyIDKey }

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
