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
)

// UploadOptions configure one Upload. The zero value of every field is its
// default.
type UploadOptions struct {
	// PartSize is the plaintext size of every part but the last: a multiple
	// of 16 bytes, at least MinPartSize (5 MiB). It grows when needed to
	// keep the upload within MaxUploadParts (10,000) parts: to the object's
	// size / 10,000 when the size is known, and to MaxObjectSize / 10,000
	// (about 6.6 MiB) when it is not. Default DefaultUploadPartSize
	// (8 MiB).
	PartSize int64

	// Concurrency is the number of parts uploaded at once. Upload holds a
	// buffer for each of them (below 4, one more, in which the next part is
	// read and encrypted meanwhile): memory is about Concurrency × PartSize
	// (with 1 to 3 workers (Concurrency + 1) × PartSize). Default
	// DefaultConcurrency (4); at most 10,000.
	Concurrency int

	// Threshold is the size from which Upload uses a multipart upload;
	// smaller bodies go in one PutObject. A body of unknown length is read
	// into memory up to Threshold bytes to decide. Default PartSize.
	Threshold int64

	// Progress, when set, is called with the number of plaintext bytes
	// uploaded so far, after each part. Calls do not overlap and the count
	// never decreases. It must return quickly.
	Progress func(done int64)

	// ClientOptions are applied to every S3 request of the upload.
	ClientOptions []func(*s3.Options)

	// OnResumeToken, when set, makes a multipart Upload resumable: it is
	// called with a resume token (an opaque value; see ResumeToken) once
	// the multipart upload is created, again before the bytes of each part
	// are first sent (so the token delivered last always records every
	// part whose ciphertext may be on S3), and once every part is
	// uploaded. Each token records the parts S3 acknowledged so far and
	// replaces the earlier ones. Calls do not overlap. The function must
	// make the token durable before it returns (write a file, 0600, and
	// rename it over the previous one); the part waits meanwhile. An error
	// it returns fails the Upload. A body below Threshold (one PutObject)
	// gets no token.
	//
	// Once a token was delivered, a failed or interrupted Upload does not
	// abort its multipart upload: it returns an *UploadInterruptedError,
	// and Upload with ResumeToken set to the last token continues it. Resume
	// it, or abort it, so that its parts are not billed forever (a
	// lifecycle rule that aborts incomplete multipart uploads is a good
	// backstop).
	OnResumeToken func(token []byte) error

	// ResumeToken, when set, continues the multipart upload the token
	// records (a token delivered to OnResumeToken, or from
	// Client.ResumeToken) instead of starting one. The body must be the
	// same plaintext, readable again at any offset (an io.ReaderAt or an
	// io.ReadSeeker; ErrResumeUnseekable otherwise), and in.Bucket and
	// in.Key those of the token. The keyring must unwrap the token's data
	// key (with the same WithEncryptionContext context, for KMS). Upload
	// then asks ListParts which parts S3 holds, reads every part the token
	// records again and checks it against the sum recorded when it was
	// first encrypted, before anything is sent (a source that changed, or
	// has another size, fails with ErrResumeMismatch), and uploads the
	// parts S3 does not hold as the token records them. The object is the
	// one an uninterrupted Upload would have stored: the same envelope,
	// the same ciphertext. The object's settings (metadata, content type,
	// tags, …) are those of the first Upload, which S3 holds: in must ask
	// for the same ones (ErrResumeMismatch otherwise, before anything is
	// sent; tokens of earlier versions are not checked); of in, only the
	// per-request ones are used (the SSE-C key, ExpectedBucketOwner,
	// RequestPayer, IfMatch and IfNoneMatch on completion). PartSize and Threshold are
	// the token's; Progress starts with the bytes of the parts S3 holds.
	// Without OnResumeToken, a resumed Upload that fails once it sends
	// parts is aborted, as any other. A resume refused before any part is
	// sent (a *ResumeError, or an error of the source while its recorded
	// parts are checked) leaves the upload as it was, for the same token.
	ResumeToken []byte

	limits partLimits
}

func (o *UploadOptions) resolve() error {
	if o.PartSize == 0 {
		o.PartSize = DefaultUploadPartSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Threshold == 0 {
		o.Threshold = o.PartSize
	}
	switch {
	case checkConcurrency(o.Concurrency) != nil:
		return checkConcurrency(o.Concurrency)
	case o.Threshold < 0:
		return invalid("negative Threshold")
	}
	return checkPartSize(o.PartSize, o.limits)
}

// UploadOutput describes a finished Upload.
type UploadOutput struct {
	// Size is the number of plaintext bytes uploaded.
	Size int64
	// ETag and VersionID are those of the stored object.
	ETag      *string
	VersionID *string
	// UploadID is the multipart upload's id, empty for a single PutObject.
	UploadID string
	// Parts is the number of parts (0 for a single PutObject).
	Parts int
	// PutObject is the output of the single PutObject, or nil.
	PutObject *s3.PutObjectOutput
	// CompleteMultipartUpload is the output of the multipart upload's
	// completion, or nil.
	CompleteMultipartUpload *s3.CompleteMultipartUploadOutput

	inInstructionFile bool // the envelope went to an instruction file
}

// Upload encrypts a body of any size up to MaxObjectSize (2^36−32 bytes)
// and stores it: with one PutObject below UploadOptions.Threshold, or with
// a multipart upload whose parts are encrypted and uploaded in parallel.
// The body may be any io.Reader; its length is in.ContentLength, or found
// by seeking, or unknown. It is always read to its end: a body that holds
// more or fewer bytes than its length fails with ErrBodyLength, and an
// error of the body, even one returned with its last bytes, fails the
// upload (the multipart upload is aborted).
//
// The object is one AES-GCM stream, exactly as PutObject writes it: any S3
// Encryption Client can read it, and GetObject or Download can. Each part is
// sealed into a buffer from a pool, so SDK retries resend identical bytes;
// the part that carries the tag waits only for the other parts to be
// encrypted, not for their upload. Memory is about Concurrency × PartSize
// (one part more below 4 workers), whatever the body's size.
//
// The envelope goes on the multipart upload's metadata, or into an
// instruction file written after the upload completed
// (Options.EnvelopeStorage). Every other input field is kept as PutObject
// keeps it: content type, cache control, tags, ACLs, storage class, object
// lock, SSE settings, ChecksumAlgorithm (computed over the ciphertext of
// each part), IfMatch and IfNoneMatch (on completion). Checksum values and
// ContentMD5 of the plaintext are refused, as is WriteOffsetBytes.
//
// On any failure, and when ctx is cancelled, the multipart upload is
// aborted, so no parts are left behind to be billed; no object is stored.
// The abort is sent even when ctx is done, and Upload returns only once it
// was answered (or after 30 seconds). Each answered abort is checked with
// a ListParts of one part and sent again while S3 still lists a part (one
// cut mid-request may land after the abort): up to three aborts. When the
// abort failed, or parts were still listed, the error is an
// *UploadAbortError that names the upload left behind. Once every part is
// uploaded, the completion is awaited even if ctx is cancelled meanwhile
// (within 30 seconds), so that the result tells whether the object was
// stored: a nil error then means it was.
// The encryption context of the request is taken from
// WithEncryptionContext.
func (c *Client) Upload(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*UploadOptions)) (*UploadOutput, error) {
	if in == nil {
		return nil, invalid("nil PutObjectInput")
	}
	o := UploadOptions{limits: limitsFrom(ctx)}
	applyOptions(&o, optFns)
	out, err := c.upload(ctx, in, &o)
	return out, objectError("Upload", in.Bucket, in.Key, err)
}

func (c *Client) upload(ctx context.Context, in *s3.PutObjectInput, o *UploadOptions) (*UploadOutput, error) {
	if err := o.resolve(); err != nil {
		return nil, err
	}
	if err := checkPutInput(c.s3, in); err != nil {
		return nil, err
	}
	if o.ResumeToken != nil {
		return c.uploadResume(ctx, in, o)
	}
	src, seeker, _, size, err := plaintextSource(in.Body, in.ContentLength)
	switch {
	case errors.Is(err, ErrUnknownLength):
		src, size = in.Body, -1
	case err != nil:
		return nil, err
	case size > MaxObjectSize:
		return nil, fmt.Errorf("%d bytes exceed the GCM limit of %d bytes", size, int64(MaxObjectSize))
	}
	prog := &progress{fn: o.Progress}

	if size >= 0 && size < o.Threshold {
		req := *in
		req.ContentLength = aws.Int64(size)
		if seeker == nil {
			// Held in memory, a body the SDK can rewind for a retry.
			// The source must end after size bytes, without an error.
			// The buffer grows as bytes arrive: the caller's
			// ContentLength is a claim (one of 60 GiB over a 10-byte
			// body was allocated whole, and the process died).
			buf, err := readSized(src, size)
			if err != nil {
				return nil, err
			}
			req.Body = bytes.NewReader(buf)
		}
		return c.uploadSingle(ctx, &req, o, prog)
	}
	if size < 0 {
		head, err := readUpTo(src, o.Threshold)
		if err != nil {
			return nil, err
		}
		if int64(len(head)) < o.Threshold {
			req := *in
			req.Body = bytes.NewReader(head)
			req.ContentLength = aws.Int64(int64(len(head)))
			return c.uploadSingle(ctx, &req, o, prog)
		}
		src = io.MultiReader(bytes.NewReader(head), src)
	}
	return c.uploadMultipart(ctx, in, src, size, o, prog)
}

func (c *Client) uploadSingle(ctx context.Context, in *s3.PutObjectInput, o *UploadOptions, prog *progress) (*UploadOutput, error) {
	out, err := c.putObject(ctx, in, o.ClientOptions)
	if err != nil {
		return nil, err
	}
	size := aws.ToInt64(in.ContentLength)
	prog.add(size)
	return &UploadOutput{Size: size, ETag: out.ETag, VersionID: out.VersionId, PutObject: out}, nil
}

// readUpTo reads at most limit bytes of r, growing its buffer as it goes.
// An error of r fails it, also one that comes with the bytes that reach the
// limit.
func readUpTo(r io.Reader, limit int64) ([]byte, error) {
	buf := make([]byte, 0, min(limit, 64<<10))
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), limit-int64(len(buf)))))
		}
		end := int(min(int64(cap(buf)), limit))
		n, err := streamio.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// growPartSize returns the part size that keeps an upload of size bytes
// (-1: unknown, up to MaxObjectSize) within maxParts parts.
func growPartSize(partSize, size int64, maxParts int) int64 {
	if size < 0 {
		size = MaxObjectSize
	}
	need := (size + int64(maxParts) - 1) / int64(maxParts)
	need = (need + 15) &^ 15
	return max(partSize, need)
}

func (c *Client) uploadMultipart(ctx context.Context, in *s3.PutObjectInput, src io.Reader, size int64, o *UploadOptions, prog *progress) (*UploadOutput, error) {
	partSize := growPartSize(o.PartSize, size, o.limits.maxParts)
	if partSize > MaxPartSize {
		return nil, invalid("part size %d exceeds %d bytes", partSize, int64(MaxPartSize))
	}
	newSealer := objectcrypto.NewSealer
	if o.OnResumeToken != nil {
		newSealer = objectcrypto.NewResumableSealer
	}
	sealer, err := newSealer(ctx, c.keyring, c.opts.policy(), EncryptionContextFrom(ctx), size)
	if err != nil {
		return nil, err
	}
	meta, instr, err := c.placeEnvelope(sealer.Envelope, in.Metadata)
	if err != nil {
		return nil, err
	}
	var envMeta map[string]string
	if o.OnResumeToken != nil {
		if envMeta, err = sealer.Envelope.Metadata(); err != nil {
			return nil, err
		}
	}
	optFns := withSafety(o.ClientOptions)
	// A rewrite whose source used no instruction file writes its new one
	// first (instrFirst); it goes again when the object is not stored.
	first, undoInstr, err := c.instrFirst(ctx, in, instr, optFns)
	if err != nil {
		return nil, err
	}
	notStored := func(err error) error {
		if undoInstr != nil {
			undoInstr()
		}
		return err
	}
	create := createInput(in, meta)
	created, err := c.s3.CreateMultipartUpload(ctx, create, optFns...)
	if err != nil {
		return nil, notStored(err)
	}
	id := created.UploadId
	if aws.ToString(id) == "" {
		return nil, notStored(fmt.Errorf("server returned no upload id"))
	}
	u := &uploader{
		c: c, in: in, id: id, parts: sealer.Parts(), src: src, size: size, partSize: partSize,
		concurrency: o.Concurrency, maxParts: o.limits.maxParts, optFns: optFns, prog: prog,
	}
	if o.OnResumeToken != nil {
		u.ck = &checkpointer{
			fn:     o.OnResumeToken,
			header: encodeHeader(aws.ToString(in.Bucket), aws.ToString(in.Key), aws.ToString(id), envMeta),
			base: uploadState{
				partSize: partSize, size: size, checksumAlg: in.ChecksumAlgorithm,
				instr: instr, instrIn: instructionSettings(create),
				settings: objectSettings(in),
			},
		}
	}
	var instrIn *s3.PutObjectInput
	if instr != nil && !first {
		instrIn = in
	}
	return c.finishMultipart(ctx, u, instr, instrIn, notStored)
}

// finishMultipart uploads the parts of a created (or resumed) multipart
// upload, then completes it and writes its instruction file (instr, with
// the settings of instrIn; none when instrIn is nil). On failure the
// upload is aborted, unless a resume token was delivered.
func (c *Client) finishMultipart(ctx context.Context, u *uploader, instr []byte, instrIn *s3.PutObjectInput, notStored func(error) error) (*UploadOutput, error) {
	in, id, optFns := u.in, u.id, u.optFns
	abort := func(err error) error {
		// Sent even when ctx is done, and waited for: a caller that exits
		// on return (a command interrupted) must not cut it short.
		return c.abortUpload(ctx, partsQuery{
			bucket: in.Bucket, key: in.Key, id: id, owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
			sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
		}, err, optFns)
	}
	// fail gives up the upload: aborted, or left for a resume once a token
	// that records it was delivered.
	fail := func(err error) error {
		if u.ck.wasDelivered() {
			// A last token, for the parts acknowledged since the one
			// before (when OnResumeToken still works).
			_ = u.checkpoint(u.generation())
			return &UploadInterruptedError{Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), UploadID: aws.ToString(id), Err: err}
		}
		return notStored(abort(err))
	}
	if u.ck != nil {
		if err := u.checkpoint(0); err != nil {
			return nil, fail(err)
		}
	}
	total, err := u.run(ctx)
	if err == nil && u.ck != nil {
		err = u.checkpoint(u.generation())
	}
	if err != nil {
		return nil, fail(err)
	}
	slices.SortFunc(u.completed, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	if err := ctx.Err(); err != nil {
		return nil, fail(err)
	}
	// Once sent, the completion is awaited even when ctx is cancelled
	// meanwhile (within cleanupTimeout): the server may already have
	// stored the object, and only its answer tells.
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	out, err := c.s3.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, UploadId: id,
		MultipartUpload:     &types.CompletedMultipartUpload{Parts: u.completed},
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		IfMatch: in.IfMatch, IfNoneMatch: in.IfNoneMatch,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}, optFns...)
	if err == nil {
		// Stored or not, as any answer that is not a refusal: aborted
		// below (an upload that was completed is gone, and the abort
		// says so).
		err = requireETag("CompleteMultipartUpload", out.ETag)
	}
	if err != nil {
		switch {
		case u.ck.wasDelivered():
			// Kept for a resume, as after any failure once a token was
			// delivered: perhaps stored, perhaps not (a resume completes
			// the upload, or finds it stale), or refused for a reason a
			// resume may remedy (an expired credential, a condition the
			// resume gives anew); the caller holds the token to abort it.
			return nil, fail(err)
		case serverRefused(err):
			// Answered with a refusal: nothing was stored. Anything else
			// may have followed a stored object, which needs its
			// instruction file.
			return nil, notStored(abort(err))
		}
		return nil, abort(err)
	}
	if instrIn != nil {
		// The object is stored: its instruction file is written on the
		// same surviving context, so that an interrupt now does not turn a
		// stored upload into a deleted one.
		if err := c.completeWithInstructionFile(cctx, instrIn, instr, out.VersionId, optFns); err != nil {
			return nil, err
		}
	}
	return &UploadOutput{
		Size: total, ETag: out.ETag, VersionID: out.VersionId, UploadID: aws.ToString(id),
		Parts: len(u.completed), CompleteMultipartUpload: out, inInstructionFile: instr != nil,
	}, nil
}

// partsAhead is the number of parts read and encrypted ahead of the
// Concurrency parts being sent. Below aheadUntil workers one, so that
// reading and encryption overlap the uploads even with a single worker;
// from aheadUntil on none: while the next part is read into the buffer a
// finished part gave back, the other workers keep the connection busy, and
// the memory is Concurrency × PartSize.
func partsAhead(concurrency int) int {
	if concurrency >= aheadUntil {
		return 0
	}
	return 1
}

// aheadUntil is the Concurrency from which Upload reads no part ahead.
const aheadUntil = 4

// uploader runs the parts of one Upload: the caller's goroutine reads the
// plaintext into part buffers, one goroutine per buffer encrypts it in
// place and uploads it.
type uploader struct {
	c                     *Client
	in                    *s3.PutObjectInput
	id                    *string
	parts                 *objectcrypto.Parts
	src                   io.Reader
	size                  int64 // -1 when unknown
	partSize              int64
	concurrency, maxParts int
	optFns                []func(*s3.Options)
	prog                  *progress

	slots chan struct{} // one per part being sent

	// A resumed upload reads its source at the parts' offsets and skips
	// the parts S3 holds.
	at      io.ReaderAt
	done    map[int32]bool
	lastNum int32 // the last part's number (at only)

	ck *checkpointer // resume tokens; nil when not resumable

	mu        sync.Mutex
	completed []types.CompletedPart
	gen       uint64 // counts the sums and acknowledgements recorded
	last      int32  // the last part's number, once sealed

	peek    [1]byte // unknown length: the first byte of the next part
	hasPeek bool
}

// run uploads every part and returns the plaintext size.
func (u *uploader) run(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	bufSize := u.partSize
	if u.size >= 0 {
		bufSize = min(bufSize, u.size)
	}
	// The pool: a nil entry is a buffer not allocated yet. One buffer more
	// than the upload slots lets the next part be read and encrypted while
	// Concurrency parts are sent.
	buffers := u.concurrency + partsAhead(u.concurrency)
	free := make(chan []byte, buffers)
	for range buffers {
		free <- nil
	}
	u.slots = make(chan struct{}, u.concurrency)
	var workers sync.WaitGroup
	var off int64
	for num := int32(1); ; num++ {
		if u.done[num] {
			off += u.partLen(num)
			if num == u.lastNum {
				break
			}
			continue
		}
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if buf == nil {
			buf = make([]byte, bufSize+envelope.TagSize)
		}
		n, last, err := u.read(buf[:bufSize], off)
		if err == nil && int(num) > u.maxParts {
			err = fmt.Errorf("the body needs more than %d parts", u.maxParts)
		}
		if err != nil {
			cancel(err)
			break
		}
		workers.Add(1)
		go func(num int32, off int64, buf []byte, n int, last bool) {
			defer workers.Done()
			if u.part(ctx, cancel, num, off, buf[:n], last) {
				free <- buf
			} else {
				free <- nil // the HTTP transport may still read it
			}
		}(num, off, buf, n, last)
		off += int64(n)
		if last {
			break
		}
	}
	workers.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return off, nil
}

// read fills buf with the plaintext of the part at offset off and reports
// whether it is the last part. Every error of the source fails it, also
// one that comes with the part's last bytes; a source of known size must
// end exactly there (ErrBodyLength otherwise).
func (u *uploader) read(buf []byte, off int64) (n int, last bool, err error) {
	if u.at != nil {
		return u.readAt(buf, off)
	}
	if u.size >= 0 {
		n = int(min(int64(len(buf)), u.size-off))
		k, err := streamio.ReadFull(u.src, buf[:n])
		switch {
		case err == io.EOF && k < n:
			return 0, false, shortBody(off+int64(k), u.size)
		case err != nil && err != io.EOF:
			return 0, false, err
		}
		last = off+int64(n) == u.size
		if last && err == nil {
			if err := expectEnd(u.src, u.size); err != nil {
				return 0, false, err
			}
		}
		return n, last, nil
	}
	if u.hasPeek {
		buf[0], n, u.hasPeek = u.peek[0], 1, false
	}
	k, err := streamio.ReadFull(u.src, buf[n:])
	n += k
	switch err {
	case nil:
		// A full part: the next byte says whether another part follows.
		m, err := streamio.ReadFull(u.src, u.peek[:])
		switch {
		case err != nil && err != io.EOF:
			return 0, false, err
		case m == 1:
			u.hasPeek = true
		default:
			last = true
		}
	case io.EOF:
		last = true
	default:
		return 0, false, err
	}
	if off+int64(n) > MaxObjectSize || (!last && off+int64(n) == MaxObjectSize) {
		return 0, false, fmt.Errorf("the body exceeds the GCM limit of %d bytes", int64(MaxObjectSize))
	}
	return n, last, nil
}

// part encrypts one part in place and uploads it. It reports whether buf
// may be reused.
func (u *uploader) part(ctx context.Context, cancel context.CancelCauseFunc, num int32, off int64, buf []byte, last bool) bool {
	n := len(buf)
	if err := u.parts.Seal(int(num), off, buf); err != nil {
		if errors.Is(err, objectcrypto.ErrPartConflict) {
			// A resumed source that changed since it was verified.
			err = fmt.Errorf("%w: part %d differs from the plaintext sealed for it before", ErrBodyChanged, num)
		}
		cancel(err)
		return true
	}
	if last {
		// The tag covers every part: it waits for the others to be
		// sealed (or for the upload to fail).
		tag, err := u.parts.Tag(ctx, int(num))
		if err != nil {
			cancel(err)
			return true
		}
		buf = append(buf, tag[:]...)
	}
	u.noteSealed(num, last)
	select {
	case u.slots <- struct{}{}:
		defer func() { <-u.slots }()
	case <-ctx.Done():
		return true
	}
	if u.ck != nil {
		// Write-ahead: no byte of the part leaves before a token that
		// records its sum was delivered. The token is sealed once the
		// part holds its slot, so it also records every part S3
		// acknowledged while this one waited: a resume sends none of
		// them again.
		if err := u.checkpoint(u.generation()); err != nil {
			cancel(err)
			return true
		}
	}
	in := u.in
	out, err := u.c.s3.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: in.Bucket, Key: in.Key, UploadId: u.id, PartNumber: aws.Int32(num),
		Body: bytes.NewReader(buf), ContentLength: aws.Int64(int64(len(buf))),
		ChecksumAlgorithm:   in.ChecksumAlgorithm,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}, u.optFns...)
	if err != nil {
		cancel(fmt.Errorf("part %d: %w", num, err))
		return false
	}
	cp := completedPart(num, out, in.ChecksumAlgorithm != "")
	u.mu.Lock()
	u.completed = append(u.completed, *cp)
	u.gen++
	u.mu.Unlock()
	u.prog.add(int64(n))
	return true
}
