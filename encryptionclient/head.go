package encryptionclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/envelope"
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

// EnvelopeOutput is what ReadEnvelope found.
type EnvelopeOutput struct {
	// Envelope is the decoded envelope: format, content suite, wrap
	// algorithm, wrapped key, description (the KMS encryption context or
	// the material description), and the plaintext length where the
	// format records it.
	Envelope *envelope.Envelope
	// InstructionFileKey is the key of the instruction file the envelope
	// was read from; "" when it is in the object's metadata.
	InstructionFileKey string
	// HeadObject is S3's answer for the object, unchanged: its
	// ContentLength is the stored (ciphertext) size, already checked
	// against what the format allows.
	HeadObject *s3.HeadObjectOutput
}

// ReadEnvelope reads how an object is encrypted: HeadObject, and the
// instruction file when the metadata does not hold the wrapped key (the
// one that belongs to the version read, as GetObject pairs them; the
// suffix from WithInstructionFileSuffix, or the default). It needs no
// keyring: it unwraps nothing and does not prove that the object is intact
// or can be decrypted. An object without an envelope fails with
// ErrNotEncrypted, which says so when the object is itself an instruction
// file. in.PartNumber and in.Range are refused.
func ReadEnvelope(ctx context.Context, client S3API, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*EnvelopeOutput, error) {
	if client == nil || in == nil {
		return nil, invalid("nil S3 client or HeadObjectInput")
	}
	c := &Client{s3: client}
	c.opts.setDefaults()
	head, env, f, err := c.readEnvelope(ctx, in, withSafety(optFns))
	if err != nil {
		return nil, objectError("ReadEnvelope", in.Bucket, in.Key, err)
	}
	out := &EnvelopeOutput{Envelope: env, HeadObject: head}
	if f != nil {
		out.InstructionFileKey = aws.ToString(in.Key) + c.suffix(ctx)
	}
	return out, nil
}

// readEnvelope is HeadObject and the object's envelope, its size checked
// against the format.
func (c *Client) readEnvelope(ctx context.Context, in *s3.HeadObjectInput, optFns []func(*s3.Options)) (*s3.HeadObjectOutput, *envelope.Envelope, *instructionFile, error) {
	if aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "" {
		return nil, nil, nil, invalid("bucket and key are required")
	}
	if err := checkSSEC(c.s3, in.SSECustomerKey); err != nil {
		return nil, nil, nil, err
	}
	if in.PartNumber != nil || in.Range != nil {
		return nil, nil, nil, invalid("PartNumber and Range are not supported on encrypted objects")
	}
	out, err := c.s3.HeadObject(ctx, in, optFns...)
	if err != nil {
		return nil, nil, nil, err
	}
	env, f, err := c.loadEnvelope(ctx, objectRef{
		bucket: in.Bucket, key: in.Key, versionID: in.VersionId,
		sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
		owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
	}, out.Metadata, forRead, optFns)
	if errors.Is(err, ErrNotEncrypted) && envelope.HasInstructionFileMark(out.Metadata) {
		return nil, nil, nil, fmt.Errorf("%w: the object is an instruction file", err)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if out.ContentLength != nil {
		// The size S3 reports is checked against what the format allows
		// before anyone sizes anything from it.
		if err := envelope.CheckBodyLength(env.Suite, *out.ContentLength, env.PlaintextLength); err != nil {
			return nil, nil, nil, err
		}
	}
	return out, env, f, nil
}
