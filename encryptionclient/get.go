package encryptionclient

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// GetObject reads and decrypts an object.
//
// By default the plaintext is released only after it was authenticated:
// the ciphertext is read into memory, up to Options.BufferSize bytes, and
// its tag verified before GetObject returns; the body then decrypts as it
// is read, so no plaintext sits in memory. The buffer comes from a pool
// and goes back to it when the body is closed or read to its end: close
// the body. Larger objects fail with ErrTooLarge, unless
// Options.SpoolLargeObjects is set: their ciphertext then goes to a
// temporary file in Options.SpoolDir (mode 0600, removed on every path;
// ErrSpool when it cannot be created or written, a full disk included),
// hashed as it arrives, and GetObject returns once the tag verified, with
// a body that decrypts from the file in constant memory. With
// Options.EnableDelayedAuthentication the body streams in constant memory
// and a failed authentication is the error of its final Read.
//
// A Range (bytes=a-b, bytes=a-, bytes=-n) needs
// Options.EnableUnauthenticatedRanges: a part of a GCM object cannot be
// authenticated. A legacy AES-CBC object (which also needs
// Options.EnableLegacyUnauthenticatedModes) is read by range from the
// block before the range; its padding is checked only when the range
// reaches the end of the plaintext. Its plaintext length is
// x-amz-unencrypted-content-length when the envelope or the object records
// one (checked against the body's length), otherwise it is known only from
// the padding of the last block, which a ranged read then fetches first
// (one more GET of at most 32 bytes). PartNumber reads are refused.
//
// The output describes the plaintext: ContentLength, and ContentRange for
// ranges. For a whole CBC object without a recorded length, ContentLength
// is nil: the length is only known once the last block was decrypted. Checksums of the stored ciphertext are removed; every other field
// is kept. The encryption context expected is taken from
// WithEncryptionContext.
func (c *Client) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if in == nil {
		return nil, invalid("nil GetObjectInput")
	}
	out, err := c.getObject(ctx, in, withSafety(optFns))
	return out, objectError("GetObject", in.Bucket, in.Key, err)
}

func (c *Client) getObject(ctx context.Context, in *s3.GetObjectInput, optFns []func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "" {
		return nil, invalid("bucket and key are required")
	}
	if err := checkSSEC(c.s3, in.SSECustomerKey); err != nil {
		return nil, err
	}
	if in.PartNumber != nil {
		return nil, invalid("PartNumber reads of encrypted objects are not supported; use a Range")
	}
	if in.Range != nil {
		return c.getRange(ctx, in, optFns)
	}
	out, err := c.s3.GetObject(ctx, in, optFns...)
	if err != nil {
		return nil, err
	}
	body := out.Body
	defer func() {
		if body != nil {
			body.Close()
		}
	}()
	if err := checkWholeResponse(out, -1); err != nil {
		return nil, err
	}
	n := int64(-1)
	if out.ContentLength != nil {
		// The body must be exactly as long as announced, in every mode:
		// a short one is ErrTruncated, never taken for the end (a legacy
		// CBC body cut at a block boundary can end in valid padding).
		n = *out.ContentLength
		body = newExactBody(body, n)
	}
	op, err := c.open(ctx, refForGet(in), out.Metadata, optFns)
	if err != nil {
		return nil, err
	}
	if n >= 0 {
		if err := envelope.CheckBodyLength(op.Envelope.Suite, n, op.Envelope.PlaintextLength); err != nil {
			op.Close()
			return nil, err
		}
	}
	if err := checkCBCLength(op, n); err != nil {
		op.Close()
		return nil, err
	}
	ctLen := n
	if c.opts.EnableDelayedAuthentication || !op.Authenticated() {
		// Streams decrypt on the caller's goroutine: read the network
		// ahead on another. (A verified GCM read only hashes while it
		// reads, which needs no help.)
		body = maybeReadAhead(body, n)
	}
	if c.opts.EnableDelayedAuthentication {
		r, err := op.UnverifiedReader(body)
		if err != nil {
			op.Close()
			return nil, err
		}
		out.Body = &streamBody{r: r, src: body, op: op}
		body = nil
	} else {
		defer op.Close()
		limit := c.opts.BufferSize
		var r io.ReadCloser
		switch {
		case ctLen >= 0 && ctLen-envelope.TagSize > limit && c.opts.SpoolLargeObjects && op.Authenticated():
			r, err = spoolVerified(op, ctxReader{ctx, body}, ctLen, c.opts.SpoolDir)
		case ctLen >= 0 && ctLen-envelope.TagSize > limit:
			how := "set Options.SpoolLargeObjects to authenticate it through a temporary file, or Options.EnableDelayedAuthentication to stream it"
			if !op.Authenticated() {
				how = "a legacy CBC object is not spooled (it has no tag); set Options.EnableDelayedAuthentication to stream it"
			}
			return nil, fmt.Errorf("%w to authenticate in memory: %d bytes of plaintext, limit %d (Options.BufferSize); %s", ErrTooLarge, ctLen-envelope.TagSize, limit, how)
		default:
			r, err = op.VerifiedReader(body, limit, n)
		}
		if err != nil {
			return nil, err
		}
		out.Body = r
	}
	out.ContentLength = plaintextLength(op.Envelope, out.ContentLength)
	clearChecksums(out)
	return out, nil
}

// open decodes the envelope and unwraps the data key.
func (c *Client) open(ctx context.Context, ref objectRef, meta map[string]string, optFns []func(*s3.Options)) (*objectcrypto.Opener, error) {
	env, _, err := c.loadEnvelope(ctx, ref, meta, forRead, optFns)
	if err != nil {
		return nil, err
	}
	return objectcrypto.Open(ctx, c.keyring, objectcrypto.DecryptOptions{
		Policy:            c.opts.policy(),
		EncryptionContext: EncryptionContextFrom(ctx),
	}, env)
}

// getRange serves a ranged read: the object's size and envelope from
// HeadObject, then exactly the requested ciphertext bytes, decrypted in CTR
// mode at their offset.
func (c *Client) getRange(ctx context.Context, in *s3.GetObjectInput, optFns []func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if !c.opts.EnableUnauthenticatedRanges {
		return nil, &envelope.PolicyError{What: "ranged GetObject (a range cannot be authenticated)", Option: "encryptionclient.Options.EnableUnauthenticatedRanges"}
	}
	head, err := c.s3.HeadObject(ctx, headInput(in), optFns...)
	if err != nil {
		return nil, err
	}
	op, err := c.open(ctx, refForGet(in), head.Metadata, optFns)
	if err != nil {
		return nil, err
	}
	if head.ContentLength == nil {
		op.Close()
		return nil, fmt.Errorf("%w: HeadObject returned no object size", ErrBadResponse)
	}
	ctLen := *head.ContentLength
	if err := envelope.CheckBodyLength(op.Envelope.Suite, ctLen, op.Envelope.PlaintextLength); err != nil {
		op.Close()
		return nil, err
	}
	if !op.Authenticated() {
		return c.getCBCRange(ctx, in, head, op, ctLen, optFns)
	}
	size := ctLen - envelope.TagSize
	r, err := envelope.ParseRange(aws.ToString(in.Range), size)
	if err != nil {
		op.Close()
		return nil, err
	}
	out, src, err := c.getBodyRange(ctx, in, head, r, ctLen, optFns)
	if err != nil {
		op.Close()
		return nil, err
	}
	rr, _ := op.RangeReader(src, r.First)
	out.Body = &readCloser{Reader: rr, close: src.Close}
	out.ContentLength = aws.Int64(r.Len())
	out.ContentRange = aws.String(r.ContentRange(size))
	clearChecksums(out)
	return out, nil
}

// getBodyRange GETs the body bytes r of the object head describes (of
// ctLen bytes), pinned to its version and ETag, and checks the answer: a
// 206 of exactly that range, whose body must hold exactly its bytes.
func (c *Client) getBodyRange(ctx context.Context, in *s3.GetObjectInput, head *s3.HeadObjectOutput, r envelope.ByteRange, ctLen int64, optFns []func(*s3.Options)) (*s3.GetObjectOutput, *exactBody, error) {
	req := *in
	req.Range = aws.String(fmt.Sprintf("bytes=%d-%d", r.First, r.Last))
	if req.VersionId == nil {
		req.VersionId = head.VersionId
	}
	if head.ETag != nil {
		// The same object as the envelope. HeadObject enforced the
		// caller's conditions; a caller's If-Match of "*" would pin
		// nothing, and any other would have failed it.
		req.IfMatch = head.ETag
		req.IfNoneMatch, req.IfModifiedSince, req.IfUnmodifiedSince = nil, nil, nil
	}
	out, err := c.s3.GetObject(ctx, &req, optFns...)
	if err != nil {
		// The read is pinned to the version and ETag HeadObject saw: a 412
		// or 404 now means the object was replaced or deleted in between.
		return nil, nil, changedError("ranged read", err)
	}
	// Decrypting bytes at another offset than asked would release
	// garbage as plaintext: the answer must be exactly the range.
	if err := checkRangeResponse(out, r.First, r.Last, ctLen); err != nil {
		out.Body.Close()
		return nil, nil, err
	}
	return out, newExactBody(out.Body, r.Len()), nil
}

// getCBCRange serves a ranged read of a legacy CBC object (the legacy
// opt-in was checked when op was opened). CBC decrypts any block from the
// one before it, so the body is read from one block before the range; the
// padding is stripped and checked only when the range reaches the end of
// the plaintext. The plaintext length is x-amz-unencrypted-content-length
// (checked against the body's length) or, when the envelope has none, is
// learnt first from the last block (one more ranged GET of at most 32
// bytes): a suffix range, a clipped end and the Content-Range total need
// it.
func (c *Client) getCBCRange(ctx context.Context, in *s3.GetObjectInput, head *s3.HeadObjectOutput, op *objectcrypto.Opener, ctLen int64, optFns []func(*s3.Options)) (*s3.GetObjectOutput, error) {
	defer op.Close() // the readers keep their own key schedule
	size := op.Envelope.PlaintextLength
	if size < 0 {
		var err error
		if size, err = c.cbcPlaintextLength(ctx, in, head, op, ctLen, optFns); err != nil {
			return nil, err
		}
	}
	r, err := envelope.ParseRange(aws.ToString(in.Range), size)
	if err != nil {
		return nil, err
	}
	cr, err := envelope.CBCCiphertextRange(r, size, ctLen)
	if err != nil {
		return nil, err
	}
	out, src, err := c.getBodyRange(ctx, in, head, cr.Body, ctLen, optFns)
	if err != nil {
		return nil, err
	}
	rr, err := op.CBCRangeReader(src, cr)
	if err != nil {
		src.Close()
		return nil, err
	}
	out.Body = &readCloser{Reader: rr, close: src.Close}
	out.ContentLength = aws.Int64(r.Len())
	out.ContentRange = aws.String(r.ContentRange(size))
	clearChecksums(out)
	return out, nil
}

// cbcPlaintextLength reads the last block of a CBC body of ctLen bytes
// (with its IV block) and returns the plaintext length its padding gives.
func (c *Client) cbcPlaintextLength(ctx context.Context, in *s3.GetObjectInput, head *s3.HeadObjectOutput, op *objectcrypto.Opener, ctLen int64, optFns []func(*s3.Options)) (int64, error) {
	tail, err := envelope.CBCTailRange(ctLen)
	if err != nil {
		return 0, err
	}
	_, src, err := c.getBodyRange(ctx, in, head, tail.Body, ctLen, optFns)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	rr, err := op.CBCRangeReader(src, tail)
	if err != nil {
		return 0, err
	}
	var buf [32]byte // the last block's plaintext: at most 15 bytes
	n, err := io.ReadFull(rr, buf[:])
	clear(buf[:])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
	case err == nil:
		return 0, fmt.Errorf("%w: the last block decrypts to more than a block", ErrBadResponse)
	default:
		return 0, fmt.Errorf("read the last block for the plaintext length: %w", err)
	}
	return ctLen - 16 + int64(n), nil
}

func refForGet(in *s3.GetObjectInput) objectRef {
	return objectRef{
		bucket: in.Bucket, key: in.Key, versionID: in.VersionId,
		sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
		owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
	}
}

// plaintextLength gives the plaintext length of a body of ctLen bytes.
func plaintextLength(env *envelope.Envelope, ctLen *int64) *int64 {
	if ctLen == nil {
		return nil
	}
	if n, exact, err := envelope.PlaintextLength(env.Suite, *ctLen); err == nil && exact {
		return aws.Int64(n)
	}
	if env.PlaintextLength >= 0 {
		return aws.Int64(env.PlaintextLength)
	}
	return nil
}

func clearChecksums(out *s3.GetObjectOutput) {
	out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME = nil, nil, nil
	out.ChecksumSHA1, out.ChecksumSHA256, out.ChecksumMD5, out.ChecksumSHA512 = nil, nil, nil, nil
	out.ChecksumXXHASH128, out.ChecksumXXHASH3, out.ChecksumXXHASH64 = nil, nil, nil
	out.ChecksumType = ""
}

// streamBody is the body of a streamed GetObject (delayed
// authentication): the decrypting reader over the network body. As with
// an HTTP body, Close may come from another goroutine while a Read waits
// for the network: it closes the network body first, which ends that
// Read, then waits for it, and closes the decrypting reader (which wipes
// the plaintext it still holds and its hash state, and gives its buffer
// back to the pool) and the opener. Reads after Close fail.
type streamBody struct {
	mu   sync.Mutex // held by Read; by Close after the network body closed
	r    io.ReadCloser
	src  io.Closer
	op   *objectcrypto.Opener
	once sync.Once
	err  error
}

func (b *streamBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.r == nil {
		return 0, errReadAfterClose
	}
	return b.r.Read(p)
}

func (b *streamBody) Close() error {
	b.once.Do(func() {
		b.err = b.src.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		b.r.Close()
		b.r = nil
		b.op.Close()
	})
	return b.err
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
