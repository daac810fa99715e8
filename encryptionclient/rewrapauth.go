package encryptionclient

import (
	"context"
	"errors"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// This file holds the authorization decisions of a re-wrap. Invariant:
// nothing is re-wrapped, re-encrypted or counted as already rotated unless
// a keyring's own read checks allow it — the current keyring's (the
// client's) for the move, the new keyring's for "already under the new
// key". They depend on materials and envelope only.

// rewrapRequest is the stored key as the current keyring is asked to read
// it, with the context the new wrap binds.
type rewrapRequest struct {
	read       materials.DecryptionRequest
	newContext map[string]string
}

// newRewrapRequest builds the read request of a re-wrap of env. expected is
// the caller's encryption context (WithEncryptionContext) and given says
// whether there is one; newContext is RewrapInput.EncryptionContext.
//
// The stored context is checked as a read checks it (expected; none given
// means "no user context"), except that a re-wrap that keeps the stored
// context (newContext nil) without a caller context accepts any: the
// context then moves unchanged to the new wrap, and readers keep checking
// it. A re-wrap that changes or drops the context must name the old one.
func newRewrapRequest(env *envelope.Envelope, expected map[string]string, given bool, newContext map[string]string) *rewrapRequest {
	stored := storedUserContext(env)
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
		if err == nil || errors.Is(err, ErrSameWrappingKey) || errors.Is(err, errors.ErrUnsupported) || ctx.Err() != nil {
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
	if re, ok := next.(materials.ReEncrypter); ok && isKMSWrap(r.read.Key.WrapAlgorithm) {
		_, err := authorizedReEncrypt(ctx, next, re, r, false)
		if !errors.Is(err, errors.ErrUnsupported) {
			return errors.Is(err, ErrSameWrappingKey)
		}
	}
	dk, err := next.DecryptDataKey(ctx, &r.read)
	materials.Zero(dk)
	return err == nil
}
