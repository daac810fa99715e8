package encryptionclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// Upload's resume tokens: delivered as it goes (checkpointer), and the
// resume itself (uploadResume).

// checkpointer delivers an Upload's resume tokens to OnResumeToken, one
// at a time; a token delivered covers every sum and acknowledgement
// recorded before it was sealed, so that one call can answer several
// parts waiting.
type checkpointer struct {
	fn     func([]byte) error
	header *tokenHeader
	base   uploadState // what does not change as parts go

	// resumed: the caller holds a token of the upload already (it was
	// resumed from one), so a failure never aborts it.
	resumed bool

	mu        sync.Mutex
	emitted   uint64 // the generation the last token delivered covers
	delivered bool
	err       error // the first error of fn: every later call fails too
}

func (ck *checkpointer) wasDelivered() bool {
	if ck == nil {
		return false
	}
	ck.mu.Lock()
	defer ck.mu.Unlock()
	return ck.delivered || ck.resumed
}

// noteSealed counts a part sealed: a token sealed later records its sum.
func (u *uploader) noteSealed(num int32, last bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	if last {
		u.last = num
	}
}

func (u *uploader) generation() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gen
}

// checkpoint delivers a token that covers generation need, unless one was
// delivered already.
func (u *uploader) checkpoint(need uint64) error {
	ck := u.ck
	ck.mu.Lock()
	defer ck.mu.Unlock()
	if ck.err != nil {
		return ck.err
	}
	if ck.delivered && ck.emitted >= need {
		return nil
	}
	st := ck.base
	u.mu.Lock()
	gen := u.gen
	st.last = u.last
	st.completed = make(map[int32]types.CompletedPart, len(u.completed))
	for _, p := range u.completed {
		st.completed[aws.ToInt32(p.PartNumber)] = p
	}
	u.mu.Unlock()
	// The sums are read after the generation: they hold at least every
	// part counted in it.
	tok, err := sealToken(u.parts, ck.header, &st)
	if err == nil {
		if err = ck.fn(tok); err != nil {
			err = fmt.Errorf("OnResumeToken: %w", err)
		}
	}
	if err != nil {
		ck.err = err
		return err
	}
	ck.emitted, ck.delivered = gen, true
	return nil
}

// partLen is the plaintext length of part num of a resumed upload.
func (u *uploader) partLen(num int32) int64 {
	off := int64(num-1) * u.partSize
	return min(u.partSize, u.size-off)
}

// readAt reads the part at off of a resumed upload's source; the last one
// must end the source (ErrBodyLength otherwise).
func (u *uploader) readAt(buf []byte, off int64) (int, bool, error) {
	n := int(min(int64(len(buf)), u.size-off))
	if err := readFullAt(u.at, buf[:n], off, u.size); err != nil {
		return 0, false, err
	}
	last := off+int64(n) == u.size
	if last {
		var one [1]byte
		k, err := u.at.ReadAt(one[:], u.size)
		switch {
		case k < 0 || k > 1:
			return 0, false, streamio.ErrInvalidCount
		case k > 0:
			return 0, false, fmt.Errorf("%w: body holds more than %d bytes", ErrBodyLength, u.size)
		case err != nil && err != io.EOF:
			return 0, false, err
		}
	}
	return n, last, nil
}

// readFullAt fills b from at at off, as Upload reads its source: an error
// other than io.EOF fails it even when it comes with every byte of b (a
// digest that fails over a source's last bytes), a count outside 0..len(b)
// is streamio.ErrInvalidCount, fewer bytes are ErrBodyLength.
func readFullAt(at io.ReaderAt, b []byte, off, size int64) error {
	k, err := at.ReadAt(b, off)
	switch {
	case k < 0 || k > len(b):
		return streamio.ErrInvalidCount
	case err != nil && err != io.EOF:
		return err
	case k < len(b):
		return shortBody(off+int64(k), size)
	}
	return nil
}

// resumeSource returns the body as an io.ReaderAt from its current
// position, and its length.
func resumeSource(body io.Reader, contentLength *int64) (io.ReaderAt, int64, error) {
	if body == nil {
		return nil, 0, ErrResumeUnseekable
	}
	_, seeker, start, size, err := plaintextSource(body, contentLength)
	switch {
	case errors.Is(err, ErrUnknownLength):
		return nil, 0, ErrResumeUnseekable
	case err != nil:
		return nil, 0, err
	}
	if ra, ok := body.(io.ReaderAt); ok {
		return offsetReaderAt{ra, start}, size, nil
	}
	if seeker != nil {
		return &seekReaderAt{r: body, s: seeker, base: start}, size, nil
	}
	return nil, 0, ErrResumeUnseekable
}

type offsetReaderAt struct {
	r    io.ReaderAt
	base int64
}

func (o offsetReaderAt) ReadAt(p []byte, off int64) (int, error) { return o.r.ReadAt(p, o.base+off) }

// seekReaderAt reads an io.ReadSeeker at offsets; one goroutine at a time.
type seekReaderAt struct {
	r    io.Reader
	s    io.Seeker
	base int64
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if _, err := s.s.Seek(s.base+off, io.SeekStart); err != nil {
		return 0, err
	}
	// streamio.ReadFull, not io.ReadFull: it keeps an error that comes
	// with the last bytes and refuses impossible counts (io.ReadFull
	// drops the one and panics on a negative count). A short read ends in
	// io.EOF, as io.ReaderAt wants.
	return streamio.ReadFull(s.r, p)
}

// errSettingsDiffer says why a resume whose input asks for other object
// settings than the interrupted Upload's is refused.
const errSettingsDiffer = "the object's settings (metadata, content headers, tags, storage class, server-side encryption, ACL, Object Lock) differ from those of the interrupted Upload, which S3 stores: abort the upload and start again, or resume with the same settings"

// uploadResume continues the multipart upload of o.ResumeToken.
func (c *Client) uploadResume(ctx context.Context, in *s3.PutObjectInput, o *UploadOptions) (*UploadOutput, error) {
	ot, err := c.openToken(ctx, o.ResumeToken, nil)
	if err != nil {
		return nil, err
	}
	h, st := ot.h, ot.st
	if h.bucket != aws.ToString(in.Bucket) || h.key != aws.ToString(in.Key) {
		return nil, h.refuse(0, ErrResumeMismatch, "the token is for s3://%s/%s, not s3://%s/%s", h.bucket, h.key, aws.ToString(in.Bucket), aws.ToString(in.Key))
	}
	if in.ChecksumAlgorithm != "" && in.ChecksumAlgorithm != st.checksumAlg {
		return nil, h.refuse(0, ErrResumeMismatch, "checksum algorithm %s, the upload uses %q", in.ChecksumAlgorithm, st.checksumAlg)
	}
	if err := checkPartSize(st.partSize, o.limits); err != nil {
		return nil, h.refuse(0, ErrResumeMismatch, "%v", err)
	}
	if st.settings != nil && !bytes.Equal(st.settings, objectSettings(in)) {
		return nil, h.refuse(0, ErrResumeMismatch, "%s", errSettingsDiffer)
	}
	at, size, err := resumeSource(in.Body, in.ContentLength)
	if errors.Is(err, ErrResumeUnseekable) {
		return nil, h.refuse(0, ErrResumeUnseekable, "the body is %T", in.Body)
	}
	if err != nil {
		return nil, err
	}
	partSize := st.partSize
	lastNum := int32(max(1, (size+partSize-1)/partSize))
	switch {
	case st.size >= 0 && size != st.size:
		return nil, h.refuse(0, ErrResumeMismatch, "the source holds %d bytes, the upload %d", size, st.size)
	case size > MaxObjectSize:
		return nil, fmt.Errorf("%d bytes exceed the GCM limit of %d bytes", size, int64(MaxObjectSize))
	case int64(lastNum) > int64(min(o.limits.maxParts, MaxUploadParts)):
		return nil, h.refuse(0, ErrResumeMismatch, "the source of %d bytes needs %d parts of %d", size, lastNum, partSize)
	case st.last != 0 && st.last != lastNum:
		return nil, h.refuse(0, ErrResumeMismatch, "the source of %d bytes ends in part %d, the upload in part %d", size, lastNum, st.last)
	}
	u := &uploader{
		c: c, id: aws.String(h.uploadID), parts: ot.parts, at: at, size: size, partSize: partSize,
		concurrency: o.Concurrency, maxParts: o.limits.maxParts, optFns: withSafety(o.ClientOptions),
		prog: &progress{fn: o.Progress}, done: map[int32]bool{}, lastNum: lastNum, last: st.last,
	}
	recorded := ot.parts.Recorded()
	for _, p := range recorded {
		if int32(p.Num) > lastNum || p.Len != u.partLen(int32(p.Num)) {
			return nil, h.refuse(int32(p.Num), ErrResumeMismatch, "%d bytes were sealed for this part, the source has another size", p.Len)
		}
	}
	req := *in
	req.ChecksumAlgorithm = st.checksumAlg
	u.in = &req
	listed, err := c.listParts(ctx, h, partsQuery{
		bucket: in.Bucket, key: in.Key, id: u.id, owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
		sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
	}, lastNum, u.optFns)
	if err != nil {
		return nil, err
	}
	for _, num := range slices.Sorted(maps.Keys(listed)) {
		if !ot.parts.Sealed(int(num)) {
			// Every part is recorded before its bytes leave: S3 holds
			// what this upload never sent, or a process sent it without
			// saving its token. Its plaintext is unknown.
			return nil, h.refuse(num, ErrResumeMismatch, "S3 holds this part, which the token does not record; abort the upload and start again")
		}
	}
	var doneBytes int64
	for _, num := range slices.Sorted(maps.Keys(st.completed)) {
		cp := st.completed[num]
		if num <= lastNum && confirmed(listed, cp, ctLen(u.partLen(num), num == lastNum)) {
			u.done[num] = true
			u.completed = append(u.completed, cp)
			doneBytes += u.partLen(num)
		}
	}
	if err := verifySource(h, ot.parts, at, recorded, size); err != nil {
		return nil, err
	}
	u.prog.add(doneBytes)
	if o.OnResumeToken != nil {
		u.ck = &checkpointer{fn: o.OnResumeToken, header: h, base: *st, resumed: true}
		u.ck.base.size = size
	}
	var instrIn *s3.PutObjectInput
	if st.instr != nil {
		set := *st.instrIn
		set.Bucket, set.Key = in.Bucket, in.Key
		set.ExpectedBucketOwner, set.RequestPayer = in.ExpectedBucketOwner, in.RequestPayer
		set.SSECustomerKey, set.SSECustomerKeyMD5 = in.SSECustomerKey, in.SSECustomerKeyMD5
		instrIn = &set
	}
	return c.finishMultipart(ctx, u, st.instr, instrIn, func(err error) error { return err })
}

// verifySource reads every part the token records from the source again
// and checks it: the sum of its ciphertext must be the one recorded when
// the part was first encrypted (Parts.Check encrypts into a scratch buffer
// of its own and compares in constant time), or the resume fails with
// ErrResumeMismatch before anything is sent. The plaintext buffer is
// wiped: the parts that go to S3 later are read and checked again, then
// encrypted, and equal plaintext at an equal offset gives equal
// ciphertext.
func verifySource(h *tokenHeader, ps *objectcrypto.Parts, at io.ReaderAt, recorded []objectcrypto.PartInfo, size int64) error {
	var most int64
	for _, p := range recorded {
		most = max(most, p.Len)
	}
	buf := make([]byte, most)
	defer clear(buf)
	for _, p := range recorded {
		b := buf[:p.Len]
		if err := readFullAt(at, b, p.Offset, size); err != nil {
			return err
		}
		if err := ps.Check(p.Num, p.Offset, b); err != nil {
			if errors.Is(err, objectcrypto.ErrPartConflict) {
				return h.refuse(int32(p.Num), ErrResumeMismatch, "the source differs from the plaintext this part was encrypted from: resuming needs the unchanged source; nothing was sent")
			}
			return err
		}
	}
	return nil
}
