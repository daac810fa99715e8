package encryptionclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/internal/testhooks"
)

// Limits of S3 multipart uploads, in plaintext bytes.
const (
	// MinPartSize is the smallest part size: S3 refuses parts under 5 MiB
	// except the last.
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part size: S3's 5 GiB part limit, less the
	// 16-byte tag the last part carries.
	MaxPartSize = 5<<30 - envelope.TagSize
	// MaxUploadParts is the most parts one upload may have.
	MaxUploadParts = 10000
	// MaxObjectSize is the largest plaintext one object may have: the
	// AES-GCM limit of 2^36−32 bytes under one key and IV.
	MaxObjectSize = envelope.MaxGCMPlaintextSize
)

// partLimits are the multipart limits the client enforces; tests of the
// in-process server lower them.
type partLimits struct {
	minPart  int64
	maxParts int
}

var defaultLimits = partLimits{minPart: MinPartSize, maxParts: MaxUploadParts}

type (
	partSizeKey struct{}
	lastPartKey struct{}
)

// WithPartSize returns a context for CreateMultipartUpload that fixes the
// plaintext size of every part of the upload but the last: a multiple of
// 16 bytes from MinPartSize to MaxPartSize. It is required: the part size
// decides where each part starts in the one encrypted stream.
func WithPartSize(ctx context.Context, size int64) context.Context {
	return context.WithValue(ctx, partSizeKey{}, size)
}

// WithLastPart returns a context for UploadPart that declares the part the
// last of the object. The last part carries the authentication tag, which
// covers every part: upload it after all the others, and upload no part
// with a higher number.
func WithLastPart(ctx context.Context) context.Context {
	return context.WithValue(ctx, lastPartKey{}, true)
}

func isLastPart(ctx context.Context) bool {
	last, _ := ctx.Value(lastPartKey{}).(bool)
	return last
}

func limitsFrom(ctx context.Context) partLimits {
	if minPart, maxParts, ok := testhooks.PartLimits(ctx); ok {
		return partLimits{minPart: minPart, maxParts: maxParts}
	}
	return defaultLimits
}

// PartError reports the misuse of an encrypted multipart upload. Err is
// one of ErrUnknownUpload, ErrPartSize, ErrPartOrder, ErrPartConflict and
// ErrMissingPart; test for it with errors.Is.
type PartError struct {
	UploadID   string
	PartNumber int32 // 0 when the error concerns the whole upload
	Err        error
	Reason     string
}

func (e *PartError) Error() string {
	s := fmt.Sprintf("%v: upload %s", e.Err, e.UploadID)
	if e.PartNumber != 0 {
		s += fmt.Sprintf(" part %d", e.PartNumber)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

func (e *PartError) Unwrap() error { return e.Err }

func partError(id string, num int32, err error, format string, args ...any) error {
	return &PartError{UploadID: id, PartNumber: num, Err: err, Reason: fmt.Sprintf(format, args...)}
}

// mpu is what the client holds in memory for one encrypted multipart
// upload it created.
type mpu struct {
	parts       *objectcrypto.Parts // the message: each part's sum, the tag
	partSize    int64
	limits      partLimits
	instr       []byte             // instruction-file body, written at completion
	instrIn     *s3.PutObjectInput // the settings the instruction file is stored with
	checksums   bool               // created with a checksum algorithm
	checksumAlg types.ChecksumAlgorithm
	header      *tokenHeader // the header of the upload's resume tokens

	mu         sync.Mutex
	uploaded   map[int32]*types.CompletedPart // sealed parts; nil until S3 took one
	last       int32                          // the last part's number, once it was sealed
	lastLen    int64                          // its plaintext length
	completing bool
}

// uploadTable holds a Client's open encrypted multipart uploads. An entry
// lives from CreateMultipartUpload until CompleteMultipartUpload succeeds
// or AbortMultipartUpload is called for it, and never longer than the
// Client: an upload that is abandoned (neither completed nor aborted) is
// released with the Client value. An entry takes about 100 bytes per part
// (its GHASH sum, its ETag and checksums).
type uploadTable struct {
	mu sync.Mutex
	m  map[uploadKey]*mpu
}

type uploadKey struct{ bucket, key, id string }

func keyOf(bucket, key, id *string) uploadKey {
	return uploadKey{bucket: aws.ToString(bucket), key: aws.ToString(key), id: aws.ToString(id)}
}

func (t *uploadTable) add(k uploadKey, st *mpu) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[uploadKey]*mpu{}
	}
	t.m[k] = st
}

// addIfAbsent adds st unless k is held already; it returns what k holds.
func (t *uploadTable) addIfAbsent(k uploadKey, st *mpu) *mpu {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[uploadKey]*mpu{}
	}
	if held, ok := t.m[k]; ok {
		return held
	}
	t.m[k] = st
	return st
}

func (t *uploadTable) get(k uploadKey) *mpu {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[k]
}

func (t *uploadTable) forget(k uploadKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, k)
}

// CreateMultipartUpload starts an encrypted multipart upload. The part size
// must be given with WithPartSize; the envelope (a fresh data key from the
// keyring, bound to the WithEncryptionContext context) goes on the upload's
// metadata, or into an instruction file written by CompleteMultipartUpload
// (Options.EnvelopeStorage). Every other input field is kept.
//
// The object is one AES-GCM stream over all parts, so the rules are:
//
//   - every part but the last has exactly the part size of plaintext; the
//     last has at most the part size, and is declared with WithLastPart;
//   - parts may be uploaded in any order and concurrently, except the last
//     part, which carries the tag over all parts: upload it after every
//     earlier part was uploaded (it does not need to wait for their
//     responses, only for the UploadPart calls to have started encrypting);
//   - a part number may be sent again only with the same bytes (a retry);
//     different bytes at one position would reuse the key stream;
//   - CompleteMultipartUpload needs parts 1 to the last, nothing beyond.
//
// Breaking a rule gives a *PartError (ErrPartSize, ErrPartOrder,
// ErrPartConflict, ErrMissingPart, ErrUnknownUpload) before anything is
// sent, never a silently corrupt object.
//
// The cipher and each part's hash live in this Client's memory until the
// upload is completed or aborted. To continue the upload in another
// process (after a crash, or on workers that each upload some parts),
// save a token with ResumeToken and take the upload up there with
// ResumeMultipartUpload; a worker's token, handed back, brings its parts
// into the Client that completes the upload. Without a token, abort the
// upload (AbortMultipartUpload works for any upload id) and start again.
// Use Upload to send a whole stream.
func (c *Client) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	if in == nil {
		return nil, invalid("nil CreateMultipartUploadInput")
	}
	out, err := c.createMultipartUpload(ctx, in, withSafety(optFns))
	return out, objectError("CreateMultipartUpload", in.Bucket, in.Key, err)
}

func (c *Client) createMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns []func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	if err := checkObjectWrite(c.s3, in.Bucket, in.Key, in.Metadata, in.SSECustomerKey); err != nil {
		return nil, err
	}
	limits := limitsFrom(ctx)
	partSize, ok := ctx.Value(partSizeKey{}).(int64)
	if !ok {
		return nil, invalid("the part size is required: pass a context from WithPartSize")
	}
	if err := checkPartSize(partSize, limits); err != nil {
		return nil, err
	}
	sealer, err := objectcrypto.NewResumableSealer(ctx, c.keyring, c.opts.policy(), EncryptionContextFrom(ctx), -1)
	if err != nil {
		return nil, err
	}
	meta, instr, err := c.placeEnvelope(sealer.Envelope, in.Metadata)
	if err != nil {
		return nil, err
	}
	envMeta, err := sealer.Envelope.Metadata()
	if err != nil {
		return nil, err
	}
	req := *in
	req.Metadata = meta
	out, err := c.s3.CreateMultipartUpload(ctx, &req, optFns...)
	if err != nil {
		return nil, err
	}
	if aws.ToString(out.UploadId) == "" {
		return nil, fmt.Errorf("server returned no upload id")
	}
	c.uploads.add(keyOf(in.Bucket, in.Key, out.UploadId), &mpu{
		parts: sealer.Parts(), partSize: partSize, limits: limits,
		instr: instr, instrIn: instructionSettings(in), checksums: in.ChecksumAlgorithm != "",
		checksumAlg: in.ChecksumAlgorithm, uploaded: map[int32]*types.CompletedPart{},
		header: encodeHeader(aws.ToString(in.Bucket), aws.ToString(in.Key), aws.ToString(out.UploadId), envMeta),
	})
	return out, nil
}

// UploadPart encrypts one part of an upload made by CreateMultipartUpload
// and sends it. The plaintext is read into memory (up to the part size)
// and sealed there, so SDK retries resend identical bytes. Its length is
// in.ContentLength when set (the body must hold exactly that: ErrBodyLength
// otherwise), or what the body holds. An error of the body, even one
// returned with its last bytes, fails the call before anything is sent.
// Declare the last part
// with WithLastPart. See CreateMultipartUpload for the rules; a checksum or
// ContentMD5 of the plaintext is refused (set ChecksumAlgorithm instead).
// The output's ETag and checksums are those of the stored ciphertext, as
// CompleteMultipartUpload needs them.
func (c *Client) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if in == nil {
		return nil, invalid("nil UploadPartInput")
	}
	out, err := c.uploadPart(ctx, in, withSafety(optFns))
	return out, objectError("UploadPart", in.Bucket, in.Key, err)
}

func (c *Client) uploadPart(ctx context.Context, in *s3.UploadPartInput, optFns []func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if err := refusePlaintextChecksums(in); err != nil {
		return nil, err
	}
	if err := checkSSEC(c.s3, in.SSECustomerKey); err != nil {
		return nil, err
	}
	st := c.uploads.get(keyOf(in.Bucket, in.Key, in.UploadId))
	id := aws.ToString(in.UploadId)
	if st == nil {
		return nil, partError(id, aws.ToInt32(in.PartNumber), ErrUnknownUpload, "")
	}
	num := aws.ToInt32(in.PartNumber)
	if num < 1 || int(num) > st.limits.maxParts {
		return nil, invalid("part number %d: want 1 to %d", num, st.limits.maxParts)
	}
	last := isLastPart(ctx)
	st.mu.Lock()
	err := st.checkOrder(id, num, last)
	st.mu.Unlock()
	if err != nil {
		return nil, err
	}

	buf, err := readPart(in.Body, in.ContentLength, st.partSize)
	if err != nil {
		if err == errPartTooLarge {
			return nil, partError(id, num, ErrPartSize, "more than the part size of %d bytes", st.partSize)
		}
		return nil, err
	}
	n := int64(len(buf))
	if !last && n != st.partSize {
		return nil, partError(id, num, ErrPartSize, "%d bytes; every part but the last must have the part size of %d bytes (declare the last part with WithLastPart)", n, st.partSize)
	}
	off := int64(num-1) * st.partSize
	if off+n > MaxObjectSize {
		return nil, invalid("part %d ends beyond the GCM limit of %d bytes", num, int64(MaxObjectSize))
	}
	if err := st.parts.Seal(int(num), off, buf); err != nil {
		if errors.Is(err, objectcrypto.ErrPartConflict) {
			return nil, partError(id, num, ErrPartConflict, "this part number was sent before with other bytes; two plaintexts must never be encrypted at one position")
		}
		return nil, err
	}

	st.mu.Lock()
	err = st.record(id, num, last, n)
	st.mu.Unlock()
	var tag [envelope.TagSize]byte
	if err == nil && last {
		// checkOrder saw parts 1 to num−1 sealed: this does not wait.
		tag, err = st.parts.Tag(ctx, int(num))
	}
	if err != nil {
		return nil, err
	}
	if last {
		buf = append(buf, tag[:]...)
	}

	req := *in
	req.Body = bytes.NewReader(buf)
	req.ContentLength = aws.Int64(int64(len(buf)))
	out, err := c.s3.UploadPart(ctx, &req, optFns...)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	// Only the answer of a send in the part's role is recorded: of a part
	// sent at once as the last part (with the tag) and not (without), the
	// one S3 keeps is not known, and the answer that came last (it was the
	// tagless send's) completed into an object without its tag. Recorded
	// as the last part's, a tagless send stored last makes S3 refuse the
	// completion (InvalidPart) instead.
	if _, ok := st.uploaded[num]; ok && last == (num == st.last) {
		st.uploaded[num] = completedPart(num, out, st.checksums)
	}
	st.mu.Unlock()
	return out, nil
}

// checkOrder refuses, before the body is read, a part that cannot fit.
// The caller holds st.mu.
func (st *mpu) checkOrder(id string, num int32, last bool) error {
	if st.completing {
		return partError(id, num, ErrUnknownUpload, "the upload is being completed")
	}
	switch {
	case st.last != 0 && num > st.last:
		return partError(id, num, ErrPartOrder, "part %d was uploaded as the last part; no part may follow it", st.last)
	case st.last != 0 && last && num != st.last:
		return partError(id, num, ErrPartOrder, "part %d was already uploaded as the last part", st.last)
	case st.last != 0 && !last && num == st.last:
		return partError(id, num, ErrPartOrder, "this part was uploaded as the last part; re-send it with WithLastPart")
	}
	if last {
		for k := int32(1); k < num; k++ {
			if _, ok := st.uploaded[k]; !ok {
				return partError(id, num, ErrPartOrder, "part %d has not been uploaded yet; the last part carries the tag over every part, so upload it after all the others", k)
			}
		}
		for k := range st.uploaded {
			if k > num {
				return partError(id, num, ErrPartOrder, "part %d was uploaded, beyond this last part", k)
			}
		}
	}
	return nil
}

// record notes part num, just sealed (n bytes of plaintext), after the
// order checks again: other parts may have arrived while it was read and
// sealed. The caller holds st.mu.
func (st *mpu) record(id string, num int32, last bool, n int64) error {
	if err := st.checkOrder(id, num, last); err != nil {
		return err
	}
	if _, ok := st.uploaded[num]; !ok {
		st.uploaded[num] = nil
	}
	if last {
		st.last, st.lastLen = num, n
	}
	return nil
}

var errPartTooLarge = errors.New("part too large")

// readPart reads a part's plaintext into a buffer with room for the tag.
// Every error of the body fails it, also one that comes with the last
// bytes; with ContentLength the body must end exactly there (ErrBodyLength
// otherwise, as with PutObject).
func readPart(body io.Reader, contentLength *int64, partSize int64) ([]byte, error) {
	if body == nil {
		body = eofReader{}
	}
	if contentLength != nil {
		switch n := *contentLength; {
		case n < 0:
			return nil, invalid("negative ContentLength")
		case n > partSize:
			return nil, errPartTooLarge
		default:
			buf := make([]byte, n, n+envelope.TagSize)
			if err := readExact(body, buf); err != nil {
				return nil, err
			}
			return buf, nil
		}
	}
	want := partSize + 1
	buf := make([]byte, want, want+envelope.TagSize)
	n, err := streamio.ReadFull(body, buf)
	buf = buf[:n]
	switch {
	case err != nil && err != io.EOF:
		return nil, err
	case int64(n) == want:
		return nil, errPartTooLarge // partSize+1 bytes
	}
	return buf, nil
}

// CompleteMultipartUpload completes an upload made by CreateMultipartUpload
// once parts 1 to the last were uploaded through this Client; it fails with
// ErrMissingPart otherwise, and with ErrUnknownUpload for an upload it does
// not hold (also when completing twice). With in.MultipartUpload nil, the
// parts list is the Client's record of the parts it uploaded. When the
// envelope goes into an instruction file, it is written after the upload
// completed. MpuObjectSize, if set, is the plaintext size; a checksum of
// the whole plaintext cannot be given. If S3 fails, the upload stays open:
// retry, or abort it.
func (c *Client) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if in == nil {
		return nil, invalid("nil CompleteMultipartUploadInput")
	}
	out, err := c.completeMultipartUpload(ctx, in, withSafety(optFns))
	return out, objectError("CompleteMultipartUpload", in.Bucket, in.Key, err)
}

func (c *Client) completeMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns []func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if err := refusePlaintextChecksums(in); err != nil {
		return nil, err
	}
	if err := checkSSEC(c.s3, in.SSECustomerKey); err != nil {
		return nil, err
	}
	k := keyOf(in.Bucket, in.Key, in.UploadId)
	st := c.uploads.get(k)
	id := aws.ToString(in.UploadId)
	if st == nil {
		return nil, partError(id, 0, ErrUnknownUpload, "")
	}
	st.mu.Lock()
	parts, size, err := st.checkComplete(id, in.MultipartUpload)
	if err == nil {
		st.completing = true
	}
	st.mu.Unlock()
	if err != nil {
		return nil, err
	}
	req := *in
	req.MultipartUpload = &types.CompletedMultipartUpload{Parts: parts}
	if in.MpuObjectSize != nil {
		if *in.MpuObjectSize != size {
			st.mu.Lock()
			st.completing = false
			st.mu.Unlock()
			return nil, invalid("MpuObjectSize %d differs from the %d bytes of plaintext uploaded", *in.MpuObjectSize, size)
		}
		req.MpuObjectSize = aws.Int64(size + envelope.TagSize)
	}
	out, err := c.s3.CompleteMultipartUpload(ctx, &req, optFns...)
	if err == nil {
		err = requireETag("CompleteMultipartUpload", out.ETag)
	}
	if err != nil {
		st.mu.Lock()
		st.completing = false
		st.mu.Unlock()
		return nil, err
	}
	c.uploads.forget(k)
	if st.instr != nil {
		if err := c.completeWithInstructionFile(ctx, st.instrIn, st.instr, out.VersionId, optFns); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkComplete returns the parts list to send and the plaintext size. The
// caller holds st.mu.
func (st *mpu) checkComplete(id string, given *types.CompletedMultipartUpload) ([]types.CompletedPart, int64, error) {
	if st.completing {
		return nil, 0, partError(id, 0, ErrUnknownUpload, "the upload is being completed")
	}
	if st.last == 0 {
		return nil, 0, partError(id, 0, ErrMissingPart, "no last part was uploaded (declare it with WithLastPart)")
	}
	for k := int32(1); k <= st.last; k++ {
		if st.uploaded[k] == nil {
			return nil, 0, partError(id, k, ErrMissingPart, "not uploaded successfully")
		}
	}
	size := int64(st.last-1)*st.partSize + st.lastLen
	if given == nil || len(given.Parts) == 0 {
		parts := make([]types.CompletedPart, 0, st.last)
		for k := int32(1); k <= st.last; k++ {
			parts = append(parts, *st.uploaded[k])
		}
		return parts, size, nil
	}
	seen := make(map[int32]bool, len(given.Parts))
	for _, p := range given.Parts {
		num := aws.ToInt32(p.PartNumber)
		switch {
		case num > st.last:
			return nil, 0, partError(id, num, ErrPartOrder, "listed beyond the last part %d", st.last)
		case num < 1 || seen[num]:
			return nil, 0, invalid("parts list: part number %d invalid or repeated", num)
		}
		// A checksum in the list must be the one UploadPart's answer gave
		// for the ciphertext sent; one the caller computed is of the
		// plaintext (S3 would confirm a guessed plaintext with it), as on
		// UploadPart.
		rec := st.uploaded[num]
		for _, c := range [][2]*string{
			{p.ChecksumCRC32, rec.ChecksumCRC32}, {p.ChecksumCRC32C, rec.ChecksumCRC32C}, {p.ChecksumCRC64NVME, rec.ChecksumCRC64NVME},
			{p.ChecksumSHA1, rec.ChecksumSHA1}, {p.ChecksumSHA256, rec.ChecksumSHA256},
		} {
			if c[0] != nil && (c[1] == nil || *c[0] != *c[1]) {
				return nil, 0, invalid("parts list, part %d: a checksum that is not the one S3 answered for the part's ciphertext (a checksum of the plaintext cannot match it); leave it out, or give UploadPart's", num)
			}
		}
		seen[num] = true
	}
	for k := int32(1); k <= st.last; k++ {
		if !seen[k] {
			return nil, 0, partError(id, k, ErrMissingPart, "left out of the parts list")
		}
	}
	return slices.Clone(given.Parts), size, nil
}

// AbortMultipartUpload aborts a multipart upload and forgets what the
// Client held for it. It works for any upload id, also one left by a
// process that crashed.
func (c *Client) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if in == nil {
		return nil, invalid("nil AbortMultipartUploadInput")
	}
	c.uploads.forget(keyOf(in.Bucket, in.Key, in.UploadId))
	out, err := c.s3.AbortMultipartUpload(ctx, in, withSafety(optFns)...)
	return out, objectError("AbortMultipartUpload", in.Bucket, in.Key, err)
}
