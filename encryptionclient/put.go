package encryptionclient

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// PutObject encrypts in.Body and stores it, with the envelope in the
// object's metadata or in an instruction file (Options.EnvelopeStorage).
//
// The body is streamed in constant memory. Its length must be known:
// in.ContentLength, or a seekable body. A seekable body can be rewound by
// the SDK for signing and retries, and every pass is checked to give the
// same bytes (ErrBodyChanged otherwise; the check is cryptographic, the
// GHASH of each 256 KiB segment's ciphertext under the object's secret
// hash key, made before any byte of a changed segment leaves); a
// non-seekable body is sent in one pass with an unsigned payload, and
// cannot be retried. The body is read to its end: one that holds more or
// fewer bytes than ContentLength fails with ErrBodyLength, and an error of
// the body (even one returned with its last bytes, as a gzip.Reader does
// for a bad checksum) fails the request; no object is stored either way. Every other input
// field is kept (content type, cache control, tags, ACLs, conditional
// headers, SSE settings, ChecksumAlgorithm — computed over the
// ciphertext). Checksum values and ContentMD5 computed over the plaintext
// cannot be kept and are refused, as are metadata names the envelope uses.
//
// The encryption context of the request is taken from
// WithEncryptionContext.
func (c *Client) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if in == nil {
		return nil, invalid("nil PutObjectInput")
	}
	out, err := c.putObject(ctx, in, optFns)
	return out, objectError("PutObject", in.Bucket, in.Key, err)
}

func (c *Client) putObject(ctx context.Context, in *s3.PutObjectInput, optFns []func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, _, err := c.putObjectPlaced(ctx, in, optFns)
	return out, err
}

// putObjectPlaced is putObject that also reports whether the envelope went
// to an instruction file.
func (c *Client) putObjectPlaced(ctx context.Context, in *s3.PutObjectInput, optFns []func(*s3.Options)) (*s3.PutObjectOutput, bool, error) {
	optFns = withSafety(optFns)
	if err := checkPutInput(c.s3, in); err != nil {
		return nil, false, err
	}
	src, seeker, start, size, err := plaintextSource(in.Body, in.ContentLength)
	if err != nil {
		return nil, false, err
	}
	sealer, err := objectcrypto.NewSealer(ctx, c.keyring, c.opts.policy(), EncryptionContextFrom(ctx), size)
	if err != nil {
		return nil, false, err
	}
	env := sealer.Envelope
	ctLen, err := envelope.CiphertextLength(env.Suite, size)
	if err != nil {
		return nil, false, err
	}
	objMeta, instr, err := c.placeEnvelope(env, in.Metadata)
	if err != nil {
		return nil, false, err
	}

	req := *in
	body := newEncryptingBody(sealer, src, seeker, start, size, ctLen)
	defer body.Close()
	if _, ok := in.Body.(*ownedPlaintext); ok {
		// The library's own buffer, which nothing changes: encrypted once,
		// so that the SDK's two passes (payload hash, send) read one
		// ciphertext instead of encrypting twice behind the body guard.
		ct, err := sealOwned(body, ctLen)
		if err != nil {
			return nil, false, err
		}
		req.Body = bytes.NewReader(ct)
	} else {
		req.Body = body
	}
	req.ContentLength = aws.Int64(ctLen)
	req.Metadata = objMeta
	first, undo, err := c.instrFirst(ctx, in, instr, optFns)
	if err != nil {
		return nil, false, err
	}
	if seeker == nil {
		optFns = append(optFns, unsignedPayload)
	}
	out, err := c.s3.PutObject(ctx, &req, optFns...)
	if err == nil {
		err = requireETag("PutObject", out.ETag)
	}
	if err != nil {
		if body.err != nil {
			// The body stopped short of its Content-Length, without its
			// tag: a server that stores what it got anyway (some do, when
			// the connection is cut) must not keep it.
			c.removeOwnPartial(ctx, in, objMeta, optFns)
		}
		if undo != nil && (body.err != nil || serverRefused(err)) {
			// The object was not written (or what was is removed): its
			// instruction file goes, unless the object there needs it.
			undo()
		}
		if body.err != nil {
			// The SDK may report only its failed retry; the body's own
			// error says what went wrong.
			return nil, false, fmt.Errorf("%w (%v)", body.err, err)
		}
		return nil, false, err
	}
	if instr != nil && !first {
		if err := c.completeWithInstructionFile(ctx, in, instr, out.VersionId, optFns); err != nil {
			return nil, false, err
		}
	}
	return out, instr != nil, nil
}

// unsignedPayload makes the SDK stream a body it cannot rewind, in one pass.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// ownedPlaintext is a plaintext buffer the library owns (a verified
// source read whole by ReEncrypt or Adopt) and never changes while it is
// written: putObjectPlaced encrypts it once into a ciphertext buffer.
type ownedPlaintext struct {
	*bytes.Reader
}

func newOwnedPlaintext(b []byte) *ownedPlaintext {
	return &ownedPlaintext{Reader: bytes.NewReader(b)}
}

// sealOwned reads the whole ciphertext of body (ctLen bytes, tag
// included) into memory; ctLen is bounded by the caller's buffer.
func sealOwned(body *encryptingBody, ctLen int64) ([]byte, error) {
	ct := make([]byte, ctLen)
	if _, err := io.ReadFull(body, ct); err != nil {
		return nil, err
	}
	var one [1]byte
	if n, _ := body.Read(one[:]); n != 0 {
		return nil, fmt.Errorf("%w: more ciphertext than %d bytes", ErrBodyLength, ctLen)
	}
	return ct, nil
}
