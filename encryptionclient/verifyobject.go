package encryptionclient

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
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

// VerifyObject authenticates an object, reading it whole through the
// decrypting path and releasing no plaintext to anyone: it is decrypted
// as a stream into io.Discard, in constant memory whatever the object's
// size (Options.BufferSize does not apply). It checks everything a
// GetObject checks: the client's commitment policy and legacy opt-ins,
// the keyring's unwrap, the encryption context (WithEncryptionContext,
// exactly as GetObject), the key commitment of a V3 object, the GCM tag,
// and that the body holds exactly the bytes announced. A nil error means
// that GetObject would return the object whole.
//
// A legacy AES-CBC object (V1, or V2 with CBC content) has no tag: its
// decryption, its padding and the plaintext length the envelope records
// are checked, nothing more; VerifyOutput.Authenticated is false for it,
// and an altered CBC body can pass.
//
// The GET is pinned to the version and ETag of the HeadObject that read
// the envelope. in.Range and in.PartNumber are refused; in's other
// fields (VersionId, conditions, SSE-C key, expected owner, request
// payer) are sent as GetObject sends them. The errors are GetObject's,
// in an *ObjectError.
func (c *Client) VerifyObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*VerifyOutput, error) {
	if in == nil {
		return nil, invalid("nil GetObjectInput")
	}
	out, err := c.verifyObject(ctx, in, withSafety(optFns))
	return out, objectError("VerifyObject", in.Bucket, in.Key, err)
}

func (c *Client) verifyObject(ctx context.Context, in *s3.GetObjectInput, optFns []func(*s3.Options)) (*VerifyOutput, error) {
	if in.Range != nil || in.PartNumber != nil {
		return nil, invalid("VerifyObject reads whole objects: Range and PartNumber are not supported")
	}
	head, env, _, err := c.readEnvelope(ctx, headInput(in), optFns)
	if err != nil {
		return nil, err
	}
	if head.ContentLength == nil {
		return nil, fmt.Errorf("%w: HeadObject returned no object size", ErrBadResponse)
	}
	op, err := objectcrypto.Open(ctx, c.keyring, objectcrypto.DecryptOptions{
		Policy: c.opts.policy(), EncryptionContext: EncryptionContextFrom(ctx),
	}, env)
	if err != nil {
		return nil, err
	}
	defer op.Close()
	p := &rewriteParams{
		bucket: in.Bucket, key: in.Key,
		sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
		owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
	}
	if head.ETag == nil {
		return nil, fmt.Errorf("%w: HeadObject returned no ETag", ErrBadResponse)
	}
	body, err := c.getPinned(ctx, p, head, false, optFns)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	ra := maybeReadAhead(body, *head.ContentLength)
	defer ra.Close()
	r, err := op.UnverifiedReader(ra)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return nil, err
	}
	return &VerifyOutput{
		Format: env.Format, Suite: env.Suite, Size: n, Authenticated: op.Authenticated(),
		ETag: head.ETag, VersionId: head.VersionId,
	}, nil
}
