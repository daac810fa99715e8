package main

import (
	"context"
	"errors"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// errNoKeyring is what the keyring of a command given none answers: ls,
// rm, and S3 copies that are not re-wrapped need no key, and never ask
// for one; should they, the request fails closed.
var errNoKeyring = errors.New("no keyring given: this operation needs one (--kms-key, --aes-key-file, --rsa-private-key...)")

// noKeyring is the keyring of a client that only lists, copies and deletes
// objects: it holds no key and refuses every request for one.
type noKeyring struct{}

func (noKeyring) GenerateDataKey(context.Context, *materials.EncryptionRequest) (*materials.DataKey, error) {
	return nil, errNoKeyring
}

func (noKeyring) DecryptDataKey(context.Context, *materials.DecryptionRequest) ([]byte, error) {
	return nil, errNoKeyring
}

// connectKeyless builds the clients of a command that needs no key: the
// encryption client's operations that handle envelopes without opening
// them (CopyObject, DeleteObject(s), IsInstructionFile) work; anything
// that would wrap or unwrap a key fails with errNoKeyring.
func connectKeyless(ctx context.Context, a *awsFlags, p *progress, suffix string) (*clients, error) {
	if suffix == "" {
		return nil, usagef("--instruction-suffix must not be empty")
	}
	cfg, err := a.load(ctx)
	if err != nil {
		return nil, err
	}
	plain := a.s3Client(cfg, p)
	enc, err := encryptionclient.New(plain, noKeyring{}, func(o *encryptionclient.Options) {
		o.InstructionFileSuffix = suffix
	})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return &clients{cfg: cfg, enc: enc, plain: plain, keyring: noKeyring{}}, nil
}
