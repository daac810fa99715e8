package encryptionclient

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/envelope"
)

// VerifyOutput describes an object VerifyObject read.
type VerifyOutput struct {
	// Format and Suite are the object's envelope format and content suite.
	Format envelope.Format
	Suite  envelope.Suite
	// Size is the plaintext size in bytes.
	Size int64
	// Authenticated reports that the content was authenticated (GCM tag,
	// and key commitment for V3). False for AES-CBC (V1) content, which
	// has no tag: its decryption and padding were checked, nothing more.
	Authenticated bool
	// ETag and VersionId are those of the object read.
	ETag, VersionId *string
}

// VerifyObject authenticates an object, reading it whole.
//
// Not yet implemented in this commit.
func (c *Client) VerifyObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*VerifyOutput, error) {
	if in == nil {
		return nil, invalid("nil GetObjectInput")
	}
	return nil, objectError("VerifyObject", in.Bucket, in.Key, errors.New("not implemented"))
}
