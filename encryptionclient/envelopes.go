package encryptionclient

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/envelope"
)

// Where an object's envelope goes when it is written (its metadata, or an
// instruction file when it does not fit or the options say so), and how
// it is read back: the one read of an envelope over S3 that GetObject,
// HeadObject, Download, Rewrap and ReadEnvelope share.

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
	if errors.Is(err, ErrNotEncrypted) {
		// Say so when the object is itself an instruction file: marked, or
		// (unmarked, as AWS SDK Go v1 writes them) told by its content.
		if envelope.HasInstructionFileMark(out.Metadata) {
			return nil, nil, nil, fmt.Errorf("%w: the object is an instruction file", err)
		}
		if ok, ierr := c.isInstructionFile(ctx, in, c.suffix(ctx), optFns); ierr == nil && ok {
			return nil, nil, nil, fmt.Errorf("%w: the object is the instruction file of the object named without the suffix %q", err, c.suffix(ctx))
		}
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

// placeEnvelope decides where the envelope goes and returns the object's
// metadata (the caller's plus envelope keys) and, when used, the
// instruction-file body.
func (c *Client) placeEnvelope(env *envelope.Envelope, user map[string]string) (map[string]string, []byte, error) {
	if c.opts.EnvelopeStorage != StoreInstructionFile {
		em, err := env.Metadata()
		if err != nil {
			return nil, nil, err
		}
		meta := maps.Clone(user)
		if meta == nil {
			meta = map[string]string{}
		}
		maps.Copy(meta, em)
		if metadataSize(meta) <= c.opts.MetadataLimit {
			return meta, nil, nil
		}
		if c.opts.EnvelopeStorage == StoreMetadata {
			return nil, nil, ErrMetadataTooLarge
		}
	}
	return c.inInstructionFile(env, user)
}

// inInstructionFile places env in an instruction file: it returns the
// object's metadata (the caller's, the entries of env that stay on the
// object, and the binding id that pairs the two) and the file's body.
func (c *Client) inInstructionFile(env *envelope.Envelope, user map[string]string) (map[string]string, []byte, error) {
	objEnv, body, err := env.InstructionFile()
	if err != nil {
		return nil, nil, err
	}
	meta := maps.Clone(user)
	if meta == nil {
		meta = map[string]string{}
	}
	maps.Copy(meta, objEnv)
	meta[instrBindingKey] = instructionID(body) // pairs the object with this instruction file
	if metadataSize(meta) > c.opts.MetadataLimit {
		return nil, nil, invalid("user metadata exceeds the %d-byte limit", c.opts.MetadataLimit)
	}
	return meta, body, nil
}

// metadataSize counts user metadata as S3 does, conservatively: every
// header name with its x-amz-meta- prefix, and every value.
func metadataSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len("x-amz-meta-") + len(k) + len(v)
	}
	return n
}

// envelopeUse says which instruction file an envelope is read from.
type envelopeUse int

const (
	// forRead: the instruction file that belongs to the object version
	// read (findInstructionFile), or an additional one that a suffix
	// named for this read selects.
	forRead envelopeUse = iota
	// forRewrite: the current instruction file, which a re-wrap rewrites;
	// one bound to another write of the key is refused.
	forRewrite
)

// loadEnvelope decodes the envelope of an object from its metadata, reading
// the instruction file when the metadata does not hold the wrapped key,
// and returns the instruction file it used (nil when none).
func (c *Client) loadEnvelope(ctx context.Context, ref objectRef, meta map[string]string, use envelopeUse, optFns []func(*s3.Options)) (*envelope.Envelope, *instructionFile, error) {
	layout, err := envelope.Detect(meta)
	if err != nil {
		return nil, nil, err
	}
	if layout == envelope.LayoutObject && use == forRead && c.customSuffix(ctx) {
		// A suffix named for this read (WithInstructionFileSuffix) that is
		// not the client's: an additional instruction file (a re-wrap with
		// RewrapInput.DestinationInstructionFileSuffix, or Java's
		// re-encryption into a custom suffix) holds the wrapped key to use
		// when it exists, with the object's content keys.
		f, err := c.findInstructionFile(ctx, ref, meta, optFns)
		if err != nil {
			return nil, nil, err
		}
		if f != nil {
			env, err := envelope.Decode(envelope.WithoutWrappedKey(meta), f.body)
			return env, f, err
		}
	}
	var f *instructionFile
	switch {
	case layout == envelope.LayoutObject:
	case use == forRewrite:
		if f, err = c.readInstructionFile(ctx, ref, nil, optFns); err != nil {
			return nil, nil, err
		}
		// The current instruction file must be the object's own: one that
		// another write left (a bound id that differs) is not rewritten.
		if want := bindingOf(meta); f != nil && want != "" && f.binding != "" && f.binding != want {
			return nil, nil, fmt.Errorf("%w: the current instruction file was written for another write of this key", ErrInstructionFileMismatch)
		}
	default:
		if f, err = c.findInstructionFile(ctx, ref, meta, optFns); err != nil {
			return nil, nil, err
		}
	}
	var body []byte
	if f != nil {
		body = f.body
	}
	env, err := envelope.Decode(meta, body)
	if err != nil {
		return nil, nil, err
	}
	if !env.InInstructionFile {
		f = nil
	}
	return env, f, nil
}
