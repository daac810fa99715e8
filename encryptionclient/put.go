package encryptionclient

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"

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
// same bytes (ErrBodyChanged otherwise; the check is a MAC under a key
// drawn for the request, made before any changed byte is encrypted); a
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
	optFns = withSafety(optFns)
	if aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "" {
		return nil, invalid("bucket and key are required")
	}
	if err := checkUserMetadata(in.Metadata); err != nil {
		return nil, err
	}
	if err := checkPlaintextChecksums(in); err != nil {
		return nil, err
	}
	if err := checkSSEC(c.s3, in.SSECustomerKey); err != nil {
		return nil, err
	}
	src, seeker, start, size, err := plaintextSource(in.Body, in.ContentLength)
	if err != nil {
		return nil, err
	}
	sealer, err := objectcrypto.NewSealer(ctx, c.keyring, c.opts.policy(), EncryptionContextFrom(ctx), size)
	if err != nil {
		return nil, err
	}
	env := sealer.Envelope
	ctLen, err := envelope.CiphertextLength(env.Suite, size)
	if err != nil {
		return nil, err
	}
	objMeta, instr, err := c.placeEnvelope(env, in.Metadata)
	if err != nil {
		return nil, err
	}

	body := newEncryptingBody(sealer, src, seeker, start, size, ctLen)
	defer body.Close()
	req := *in
	req.Body = body
	req.ContentLength = aws.Int64(ctLen)
	req.Metadata = objMeta
	if seeker == nil {
		optFns = append(optFns, unsignedPayload)
	}
	out, err := c.s3.PutObject(ctx, &req, optFns...)
	if err != nil {
		if body.err != nil {
			// The body stopped short of its Content-Length, without its
			// tag: a server that stores what it got anyway (some do, when
			// the connection is cut) must not keep it.
			c.removeOwnPartial(ctx, in, objMeta, optFns)
			// The SDK may report only its failed retry; the body's own
			// error says what went wrong.
			return nil, fmt.Errorf("%w (%v)", body.err, err)
		}
		return nil, err
	}
	if instr != nil {
		if err := c.putInstructionFile(ctx, in, instr, optFns); err != nil {
			c.deleteUnreadable(ctx, in, out.VersionId, optFns)
			return nil, err
		}
	}
	return out, nil
}

// unsignedPayload makes the SDK stream a body it cannot rewind, in one pass.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
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

// checkUserMetadata refuses caller metadata that cannot be stored as
// given: envelope names; names that HTTP cannot carry; values with control
// characters; and names that differ only in case, of which S3 (whose
// metadata names are case-insensitive) would keep one, chosen by map order.
// The error names the first offending name in sort order, so that it is the
// same on every call.
func checkUserMetadata(m map[string]string) error {
	var bad string
	var why error
	report := func(k string, err error) {
		if why == nil || k < bad {
			bad, why = k, err
		}
	}
	seen := make(map[string]string, len(m))
	for k, v := range m {
		lk := strings.ToLower(k)
		switch {
		case envelope.IsReservedKey(k) || strings.EqualFold(k, instrBindingKey):
			report(k, invalid("metadata name %q is reserved for the encryption envelope", k))
		case k == "" || strings.IndexFunc(k, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
		}) >= 0:
			report(k, invalid("metadata name %q is not a valid HTTP header name", k))
		case strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0:
			report(k, invalid("metadata %q: the value holds a control character, which HTTP cannot carry", k))
		}
		if other, dup := seen[lk]; dup {
			a, b := min(k, other), max(k, other)
			report(a, invalid("metadata names %q and %q differ only in case; S3 would keep one of them", a, b))
		} else {
			seen[lk] = k
		}
	}
	return why
}

func checkPlaintextChecksums(in *s3.PutObjectInput) error {
	vals := map[string]*string{
		"ContentMD5": in.ContentMD5, "ChecksumCRC32": in.ChecksumCRC32, "ChecksumCRC32C": in.ChecksumCRC32C,
		"ChecksumCRC64NVME": in.ChecksumCRC64NVME, "ChecksumSHA1": in.ChecksumSHA1, "ChecksumSHA256": in.ChecksumSHA256,
		"ChecksumMD5": in.ChecksumMD5, "ChecksumSHA512": in.ChecksumSHA512, "ChecksumXXHASH128": in.ChecksumXXHASH128,
		"ChecksumXXHASH3": in.ChecksumXXHASH3, "ChecksumXXHASH64": in.ChecksumXXHASH64,
	}
	var set []string
	for name, v := range vals {
		if v != nil {
			set = append(set, name)
		}
	}
	if len(set) > 0 {
		return invalid("%s: a precomputed checksum of the plaintext cannot match the ciphertext; set ChecksumAlgorithm instead and the SDK computes it over what is sent", strings.Join(set, ", "))
	}
	return nil
}

// plaintextSource works out the body's length and whether it can rewind.
func plaintextSource(body io.Reader, contentLength *int64) (src io.Reader, seeker io.Seeker, start, size int64, err error) {
	if body == nil {
		if contentLength != nil && *contentLength != 0 {
			return nil, nil, 0, 0, invalid("ContentLength %d with a nil body", *contentLength)
		}
		return eofReader{}, eofReader{}, 0, 0, nil
	}
	if s, ok := body.(io.Seeker); ok {
		if start, err = s.Seek(0, io.SeekCurrent); err == nil {
			seeker = s
		}
	}
	switch {
	case contentLength != nil:
		if *contentLength < 0 {
			return nil, nil, 0, 0, invalid("negative ContentLength")
		}
		size = *contentLength
	case seeker != nil:
		end, err := seeker.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		if _, err := seeker.Seek(start, io.SeekStart); err != nil {
			return nil, nil, 0, 0, err
		}
		size = end - start
	default:
		return nil, nil, 0, 0, ErrUnknownLength
	}
	return body, seeker, start, size, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error)       { return 0, io.EOF }
func (eofReader) Seek(int64, int) (int64, error) { return 0, nil }

// removeOwnPartial deletes what a PutObject whose body failed may have left:
// only an object that carries this call's own envelope (its IV and wrapped
// key are unique to the call), never whatever else the key holds.
func (c *Client) removeOwnPartial(ctx context.Context, in *s3.PutObjectInput, sent map[string]string, optFns []func(*s3.Options)) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	head, err := c.s3.HeadObject(cctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key, ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}, optFns...)
	if err != nil || !sameEnvelope(sent, head.Metadata) {
		return
	}
	c.cleanupCreated(ctx, createdObject{
		bucket: in.Bucket, key: in.Key, version: head.VersionId,
		owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
	}, optFns)
}

// sameEnvelope reports whether stored holds every envelope entry of sent,
// with the same value (names compared case-insensitively).
func sameEnvelope(sent, stored map[string]string) bool {
	n := 0
	for k, v := range sent {
		if !envelope.IsReservedKey(k) {
			continue
		}
		n++
		found := false
		for sk, sv := range stored {
			if strings.EqualFold(sk, k) {
				found = sv == v
				break
			}
		}
		if !found {
			return false
		}
	}
	return n > 0
}
