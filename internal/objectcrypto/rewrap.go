package objectcrypto

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// This file holds the crypto of a re-wrap and its authorization decisions.
// Invariant: nothing is re-wrapped, re-encrypted or counted as already
// rotated unless a keyring's own read checks allow it — the current
// keyring's for the move, the new keyring's for "already under the new
// key".

// ErrCannotWrap is returned by [Rewrap] when the new keyring can neither
// wrap an existing data key ([materials.KeyWrapper]) nor, for a KMS-wrapped
// key, re-encrypt it ([materials.ReEncrypter]).
var ErrCannotWrap = errors.New("objectcrypto: the new keyring cannot wrap an existing data key")

// RewrapRequest says who authorizes a re-wrap and where the key goes.
type RewrapRequest struct {
	// Current is the keyring that must be able to read the object (the
	// client's): the move happens on its authority.
	Current materials.Keyring
	// Policy is the current commitment policy: an object it does not let
	// Current read is not re-wrapped.
	Policy envelope.Policy
	// Next is the keyring the data key moves to.
	Next materials.Keyring
	// ExpectedContext is the caller's encryption context, when
	// ContextGiven; see [Rewrap] for what is checked without one.
	ExpectedContext map[string]string
	ContextGiven    bool
	// NewContext is the user encryption context of the new wrap; nil keeps
	// the stored one.
	NewContext map[string]string
	// AllowSameKey re-wraps even when Next already wraps the data key.
	AllowSameKey bool
}

// Rewrapped is the result of a re-wrap.
type Rewrapped struct {
	// Envelope is the re-wrapped envelope, validated: the stored one with
	// the new wrapped key, wrap algorithm and description.
	Envelope *envelope.Envelope
	// SourceKeyID and KeyID are the KMS keys KMS reported when it moved
	// the key with ReEncrypt; empty otherwise.
	SourceKeyID, KeyID string
}

// Rewrap moves the data key of env under r.Next, on the authority of
// r.Current as a read would be: the commitment policy, the keyring's key
// identity or allow-list, the encryption context, and for V3 objects the
// key commitment (only the data key the object is committed to is
// re-wrapped). V1 and CBC objects are refused: their formats are never
// written.
//
// The stored context is checked as a read checks it (ExpectedContext; none
// given means "no user context"), except that a re-wrap that keeps the
// stored context (NewContext nil) without a caller context accepts any:
// the context then moves unchanged to the new wrap, and readers keep
// checking it. A re-wrap that changes or drops the context must name the
// old one.
//
// When both the old wrap and r.Next are KMS, the key moves with KMS
// ReEncrypt and the plaintext data key never reaches this process; KMS's
// answer is kept only when the source key it reports is one r.Current
// reads and the destination is r.Next's key. Any other pair unwraps with
// r.Current and wraps with r.Next. When r.Next provably wraps the data key
// already (it unwraps it, or KMS reports the same key), Rewrap fails with
// [materials.ErrSameWrappingKey] unless r.AllowSameKey.
func Rewrap(ctx context.Context, env *envelope.Envelope, r RewrapRequest) (*Rewrapped, error) {
	if env.Format == envelope.FormatV1 || env.Suite == envelope.SuiteAESCBC {
		return nil, &envelope.PolicyError{What: fmt.Sprintf("re-wrapping a %v %s object (its format is never written; re-encrypt it instead)", env.Format, env.Suite.CipherName())}
	}
	if err := r.Policy.CheckDecrypt(env.Suite); err != nil {
		return nil, err
	}
	req := newRewrapRequest(env, r.ExpectedContext, r.ContextGiven, r.NewContext)
	out, err := moveKey(ctx, r, env, req)
	switch {
	case err == nil:
	case r.AllowSameKey || ctx.Err() != nil || errors.Is(err, materials.ErrSameWrappingKey) || errors.Is(err, ErrCannotWrap):
		return nil, err
	case alreadyUnderNewKey(ctx, r.Next, req):
		return nil, fmt.Errorf("%w: the new keyring already unwraps the stored data key", materials.ErrSameWrappingKey)
	default:
		return nil, err
	}
	newEnv := env.Clone()
	newEnv.WrapAlgorithm = out.key.WrapAlgorithm
	newEnv.EncryptedKey = out.key.Ciphertext
	newEnv.Description = out.key.Description
	if err := newEnv.Validate(); err != nil {
		return nil, err
	}
	return &Rewrapped{Envelope: newEnv, SourceKeyID: out.sourceKeyID, KeyID: out.keyID}, nil
}

// rewrapRequest is the stored key as the current keyring is asked to read
// it, with the context the new wrap binds.
type rewrapRequest struct {
	read       materials.DecryptionRequest
	newContext map[string]string
}

func newRewrapRequest(env *envelope.Envelope, expected map[string]string, given bool, newContext map[string]string) *rewrapRequest {
	stored := env.UserContext()
	if newContext == nil {
		newContext = stored
		if !given {
			expected = stored
		}
	}
	return &rewrapRequest{
		read: materials.DecryptionRequest{
			Suite:             env.Suite,
			Key:               materials.EncryptedDataKey{WrapAlgorithm: env.WrapAlgorithm, Ciphertext: env.EncryptedKey, Description: env.Description},
			EncryptionContext: expected,
		},
		newContext: newContext,
	}
}

type movedKey struct {
	key                *materials.EncryptedDataKey
	sourceKeyID, keyID string
}

// moveKey re-wraps the stored key on the authority of the current keyring:
// from KMS to KMS with ReEncrypt when that keyring can authorize one,
// otherwise by unwrapping with it and wrapping with the next.
func moveKey(ctx context.Context, r RewrapRequest, env *envelope.Envelope, req *rewrapRequest) (*movedKey, error) {
	if re, ok := r.Next.(materials.ReEncrypter); ok && env.WrapAlgorithm.IsKMS() {
		k, err := authorizedReEncrypt(ctx, r.Current, re, req, r.AllowSameKey)
		if err == nil {
			return &movedKey{key: &k.EncryptedDataKey, sourceKeyID: k.SourceKeyID, keyID: k.KeyID}, nil
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return nil, err
		}
	}
	w, ok := r.Next.(materials.KeyWrapper)
	if !ok {
		return nil, fmt.Errorf("%w: %T implements neither materials.KeyWrapper nor, for a KMS-wrapped key, materials.ReEncrypter", ErrCannotWrap, r.Next)
	}
	dataKey, err := r.Current.DecryptDataKey(ctx, &req.read)
	if err != nil {
		return nil, err
	}
	defer materials.Zero(dataKey)
	if len(dataKey) != envelope.DataKeySize {
		return nil, fmt.Errorf("objectcrypto: %w: unwrapped data key is %d bytes", materials.ErrUnwrap, len(dataKey))
	}
	if env.Format == envelope.FormatV3 {
		// Re-wrap only the data key the object is committed to.
		params, err := env.ContentParams(dataKey)
		if err != nil {
			return nil, err
		}
		params.Zero()
	}
	wrap := &materials.WrapRequest{Suite: env.Suite, EncryptionContext: req.newContext, Plaintext: dataKey}
	if !r.AllowSameKey {
		// The new keyring's own unwrap is the proof that it already wraps
		// the data key (keyrings of other packages may not check
		// Replaces); a material description proves nothing.
		if dk, err := r.Next.DecryptDataKey(ctx, &req.read); err == nil {
			materials.Zero(dk)
			return nil, fmt.Errorf("%w: the new keyring already unwraps the stored data key", materials.ErrSameWrappingKey)
		}
		wrap.Replaces, wrap.Current = &req.read.Key, r.Current
	}
	k, err := w.WrapDataKey(ctx, wrap)
	if err != nil {
		return nil, err
	}
	return &movedKey{key: k}, nil
}

// authorizedReEncrypt moves the stored key under re's KMS key with the key
// service, on the authority of current: for each source current names
// (materials.ReEncryptSourcesOf), in order, ReEncrypt is sent with the
// source's SourceKeyId, and KMS's answer is kept only when the reported
// source key passes the source's check and the destination is re's key.
// The first authorized answer wins (an ErrSameWrappingKey answer is
// authorized too). An error wrapping errors.ErrUnsupported means that
// current cannot authorize a service re-encryption, or that re's KMS
// client cannot make one: authorize with current.DecryptDataKey instead.
func authorizedReEncrypt(ctx context.Context, current materials.Keyring, re materials.ReEncrypter, r *rewrapRequest, allowSame bool) (*materials.ReEncryptedDataKey, error) {
	sources, err := materials.ReEncryptSourcesOf(current, &r.read)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range sources {
		k, err := re.ReEncryptDataKey(ctx, &materials.ReEncryptRequest{
			Suite: r.read.Suite, Key: r.read.Key, SourceEncryptionContext: r.read.EncryptionContext,
			EncryptionContext: r.newContext, SourceKeyID: s.KeyID, AuthorizeSource: s.Authorize,
			AllowSameKey: allowSame,
		})
		if err == nil || errors.Is(err, materials.ErrSameWrappingKey) || errors.Is(err, errors.ErrUnsupported) || ctx.Err() != nil {
			return k, err
		}
		errs = append(errs, err)
	}
	switch len(errs) {
	case 0:
		return nil, &materials.NoMatchError{}
	case 1:
		return nil, errs[0]
	}
	return nil, &materials.NoMatchError{Errors: errs}
}

// alreadyUnderNewKey reports whether the stored key is provably wrapped by
// next already (a rotation run again): next authorizes a KMS ReEncrypt of
// it that KMS reports as from and to the same key, or next unwraps it. A
// material description proves nothing; a keyring that can only encrypt
// proves nothing either.
func alreadyUnderNewKey(ctx context.Context, next materials.Keyring, r *rewrapRequest) bool {
	if re, ok := next.(materials.ReEncrypter); ok && r.read.Key.WrapAlgorithm.IsKMS() {
		_, err := authorizedReEncrypt(ctx, next, re, r, false)
		if !errors.Is(err, errors.ErrUnsupported) {
			return errors.Is(err, materials.ErrSameWrappingKey)
		}
	}
	dk, err := next.DecryptDataKey(ctx, &r.read)
	materials.Zero(dk)
	return err == nil
}

// WrappedBy reports whether next provably wraps env's data key already,
// under the stored encryption context: it authorizes a KMS ReEncrypt that
// KMS reports as from and to the same key, or it unwraps the key (the
// proof Rewrap uses for [materials.ErrSameWrappingKey]). A material
// description proves nothing. The caller authorizes the read of env with
// the current keyring first.
func WrappedBy(ctx context.Context, env *envelope.Envelope, next materials.Keyring) bool {
	stored := env.UserContext()
	return alreadyUnderNewKey(ctx, next, newRewrapRequest(env, stored, true, stored))
}
