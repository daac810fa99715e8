package encryptionclient

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// AdoptInput names an unencrypted object to encrypt in place.
type AdoptInput struct {
	// Bucket and Key name the object. Required.
	Bucket *string
	Key    *string
	// VersionId is the version to read; it must be the current one
	// (ErrObjectChanged otherwise).
	VersionId *string
	// IfMatch is the ETag the caller expects (default: the one HeadObject
	// reads); the read is pinned to it and the write is conditional on it.
	IfMatch *string
	// Keyring wraps the new data key. Nil: the client's keyring.
	Keyring materials.Keyring
	// EncryptionContext is bound to the new data key. Nil: none.
	EncryptionContext map[string]string
	// DryRun reads and checks the whole object and writes nothing.
	DryRun bool
	// MultipartThreshold, PartSize and Concurrency are those of
	// ReEncryptInput.
	MultipartThreshold int64
	PartSize           int64
	Concurrency        int

	ExpectedBucketOwner *string
	RequestPayer        types.RequestPayer

	// SSECustomerAlgorithm, SSECustomerKey and SSECustomerKeyMD5 give the
	// customer key of an SSE-C object.
	SSECustomerAlgorithm *string
	SSECustomerKey       *string
	SSECustomerKeyMD5    *string
}

// AdoptOutput describes an adoption.
type AdoptOutput struct {
	// To is the new object's envelope format.
	To envelope.Format
	// Size is the object's size (plaintext) in bytes.
	Size int64
	// Multipart reports a multipart write.
	Multipart bool
	// ETag and VersionId are those of the object written; nil in a dry run.
	ETag, VersionId *string
	// NotKept lists the attributes that could not be carried over ("ACL").
	NotKept []string
}

// Adopt encrypts an existing unencrypted object in place.
//
// Not yet implemented in this commit.
func (c *Client) Adopt(ctx context.Context, in *AdoptInput, optFns ...func(*s3.Options)) (*AdoptOutput, error) {
	if in == nil {
		return nil, invalid("nil AdoptInput")
	}
	return nil, objectError("Adopt", in.Bucket, in.Key, errors.New("not implemented"))
}
