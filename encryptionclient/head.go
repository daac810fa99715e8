package encryptionclient

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// HeadObject returns an encrypted object's metadata with ContentLength set
// to its plaintext length. It reads the instruction file when the envelope
// is there, and fails with ErrNotEncrypted for objects that have none. It
// unwraps no key, so it does not prove that the object can be decrypted.
func (c *Client) HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if in == nil {
		return nil, invalid("nil HeadObjectInput")
	}
	out, err := c.headObject(ctx, in, withSafety(optFns))
	return out, objectError("HeadObject", in.Bucket, in.Key, err)
}

func (c *Client) headObject(ctx context.Context, in *s3.HeadObjectInput, optFns []func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	out, env, _, err := c.readEnvelope(ctx, in, optFns)
	if err != nil {
		return nil, err
	}
	out.ContentLength = plaintextLength(env, out.ContentLength)
	out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME = nil, nil, nil
	out.ChecksumSHA1, out.ChecksumSHA256, out.ChecksumMD5, out.ChecksumSHA512 = nil, nil, nil, nil
	out.ChecksumXXHASH128, out.ChecksumXXHASH3, out.ChecksumXXHASH64 = nil, nil, nil
	out.ChecksumType = ""
	return out, nil
}
