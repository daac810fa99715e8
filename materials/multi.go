package materials

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3ec/s3ec-go/envelope"
)

var _ Keyring = (*MultiKeyring)(nil)

// MultiKeyring combines keyrings: one generator that wraps new data keys and
// any number of keyrings that are also tried for decryption, for example
// while moving from one key to another or from a local key to KMS. It is safe
// for concurrent use if its keyrings are.
type MultiKeyring struct {
	generator Keyring
	all       []Keyring // generator first, if any, then the decryptors
}

// NewMulti returns a keyring that generates data keys with generator and
// unwraps them with the first of generator, decryptors... that succeeds.
// generator may be nil for a decrypt-only keyring. Nil decryptors are
// ignored.
func NewMulti(generator Keyring, decryptors ...Keyring) *MultiKeyring {
	m := &MultiKeyring{generator: generator}
	if generator != nil {
		m.all = append(m.all, generator)
	}
	for _, kr := range decryptors {
		if kr != nil {
			m.all = append(m.all, kr)
		}
	}
	return m
}

// GenerateDataKey asks the generator for a data key. Without a generator it
// fails.
func (m *MultiKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	if m.generator == nil {
		return nil, fmt.Errorf("%w: the multi keyring has no generator", ErrDecryptOnly)
	}
	return m.generator.GenerateDataKey(ctx, req)
}

// DecryptDataKey tries the generator and then each decryptor in order and
// returns the first data key one of them unwraps. If none does, it returns a
// [*NoMatchError] holding every keyring's error, in order (errors that wrap
// [ErrNotMine] included). It stops at once, with an error wrapping
// ctx.Err(), when ctx is done.
func (m *MultiKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) ([]byte, error) {
	var errs []error
	for _, kr := range m.all {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("materials: multi keyring: %w", err)
		}
		key, err := kr.DecryptDataKey(ctx, req)
		if err == nil {
			return key, nil
		}
		Zero(key)
		errs = append(errs, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("materials: multi keyring: %w", err)
	}
	return nil, &NoMatchError{Errors: errs}
}

// ReEncryptSources collects the sources of every keyring, in order; those
// that refuse req (with [ErrNotMine], a context mismatch, a policy) are
// left out, as DecryptDataKey would pass them by. When none has a source
// it returns a [*NoMatchError] of their errors. When any keyring cannot
// answer (it does not implement [ReEncryptAuthorizer]) it fails with an
// error wrapping [errors.ErrUnsupported], so that the caller authorizes
// with DecryptDataKey, which asks that keyring too.
func (m *MultiKeyring) ReEncryptSources(req *DecryptionRequest) ([]ReEncryptSource, error) {
	var (
		out  []ReEncryptSource
		errs []error
	)
	for _, kr := range m.all {
		if _, ok := kr.(ReEncryptAuthorizer); !ok {
			return nil, fmt.Errorf("materials: multi keyring: keyring %T cannot authorize a service re-encryption: %w", kr, errors.ErrUnsupported)
		}
	}
	for _, kr := range m.all {
		s, err := ReEncryptSourcesOf(kr, req)
		if err != nil {
			if errors.Is(err, errors.ErrUnsupported) {
				return nil, err
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, s...)
	}
	if len(out) == 0 {
		return nil, &NoMatchError{Errors: errs}
	}
	return out, nil
}

// openingKey returns the identity of the first local key of the keyrings
// that opens edk.
func (m *MultiKeyring) openingKey(s envelope.Suite, edk *EncryptedDataKey) (keyIdentity, bool) {
	for _, kr := range m.all {
		if id, ok := openingKeyOf(kr, s, edk); ok {
			return id, true
		}
	}
	return keyIdentity{}, false
}
