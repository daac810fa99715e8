package encryptionclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/internal/printable"
)

// ResumeError reports a resume token that was refused. Err is one of
// ErrInvalidResumeToken, ErrResumeMismatch, ErrResumeStale,
// ErrResumeUnseekable and ErrPartConflict, or the keyring's error when it
// cannot unwrap the token's data key (ErrUnwrap, ErrContextMismatch,
// ErrPolicy, …); test for it with errors.Is. Bucket, Key and UploadID are
// those the token names, empty when it is invalid.
type ResumeError struct {
	Bucket, Key, UploadID string
	PartNumber            int32 // 0 when the error concerns the whole upload
	Err                   error
	Reason                string
}

func (e *ResumeError) Error() string {
	s := e.Err.Error()
	if e.UploadID != "" {
		s += fmt.Sprintf(": upload %s of s3://%s/%s", printable.Text(e.UploadID), printable.Text(e.Bucket), printable.Text(e.Key))
	}
	if e.PartNumber != 0 {
		s += fmt.Sprintf(" part %d", e.PartNumber)
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

func (e *ResumeError) Unwrap() error { return e.Err }

func (h *tokenHeader) refuse(num int32, err error, format string, args ...any) error {
	e := &ResumeError{PartNumber: num, Err: err, Reason: fmt.Sprintf(format, args...)}
	if h != nil && !errors.Is(err, ErrInvalidResumeToken) {
		e.Bucket, e.Key, e.UploadID = h.bucket, h.key, h.uploadID
	}
	return e
}

func invalidToken(format string, args ...any) error {
	return (*tokenHeader)(nil).refuse(0, ErrInvalidResumeToken, format, args...)
}

// UploadInterruptedError reports a resumable Upload (one with
// UploadOptions.OnResumeToken) that failed after a token was delivered:
// its multipart upload is left open, so that Upload can resume it from the
// last token OnResumeToken received. Its parts stay stored, and billed,
// until it is resumed to completion or aborted (AbortMultipartUpload with
// Bucket, Key and UploadID). No object was stored. errors.Is and errors.As
// see Err, the reason the upload failed (context.Canceled when it was
// interrupted).
type UploadInterruptedError struct {
	Bucket, Key, UploadID string
	Err                   error
}

func (e *UploadInterruptedError) Error() string {
	return fmt.Sprintf("%v; multipart upload %s of s3://%s/%s is left open for a resume from its last token", e.Err, printable.Text(e.UploadID), printable.Text(e.Bucket), printable.Text(e.Key))
}

func (e *UploadInterruptedError) Unwrap() error { return e.Err }

// openedToken is a token opened and authenticated.
type openedToken struct {
	h     *tokenHeader
	env   *envelope.Envelope
	parts *objectcrypto.Parts // the message, with the token's sums
	st    *uploadState
}

// openToken parses tok and opens it: with into, the Parts of an upload
// this Client holds, into which the sums are merged (the header must be
// that upload's); otherwise the keyring unwraps the data key from the
// token's envelope. Only a holder of that keyring can open a token.
func (c *Client) openToken(ctx context.Context, tok []byte, into *mpu) (*openedToken, error) {
	h, sealed, err := parseToken(tok)
	if err != nil {
		return nil, invalidToken("%v", err)
	}
	env, err := envelope.Decode(h.envMeta, nil)
	if err != nil {
		return nil, invalidToken("its envelope: %v", err)
	}
	ot := &openedToken{h: h, env: env}
	if into != nil {
		if !bytes.Equal(into.header.raw, h.raw) {
			return nil, invalidToken("not a token of the upload this Client holds under that id")
		}
		ot.parts = into.parts
	} else {
		ot.parts, err = objectcrypto.OpenResumable(ctx, c.keyring, objectcrypto.DecryptOptions{
			Policy: c.opts.policy(), EncryptionContext: EncryptionContextFrom(ctx),
		}, env)
		if err != nil {
			switch {
			case errors.Is(err, ErrPolicy) && env.Suite == envelope.SuiteAESCBC:
				return nil, invalidToken("its envelope is not AES-GCM")
			case errors.Is(err, ErrPolicy):
				// Resuming encrypts: the suite must be the one this
				// Client writes, not only one it may read.
				return nil, h.refuse(0, err, "the token's envelope is not one this Client would write")
			case errors.Is(err, ErrCommitmentMismatch) || errors.Is(err, ErrMalformed):
				// The key unwrapped, but does not fit the envelope.
				return nil, invalidToken("its envelope: %v", err)
			}
			return nil, h.refuse(0, err, "the keyring cannot unwrap the token's data key")
		}
	}
	app, err := ot.parts.OpenToken(h.raw, sealed)
	switch {
	case errors.Is(err, objectcrypto.ErrPartConflict):
		return nil, h.refuse(0, ErrPartConflict, "%v: the token records a part sealed here with other bytes", err)
	case err != nil:
		return nil, invalidToken("%v", err)
	}
	if ot.st, err = decodeState(app); err != nil {
		return nil, invalidToken("its state: %v", err)
	}
	// Every recorded part lies where the part size puts it.
	for _, p := range ot.parts.Recorded() {
		want := int64(p.Num-1) * ot.st.partSize
		if p.Offset != want || p.Len > ot.st.partSize || (p.Len < ot.st.partSize && ot.st.last != 0 && int32(p.Num) != ot.st.last) {
			return nil, invalidToken("part %d at offset %d, %d bytes, does not fit the part size %d", p.Num, p.Offset, p.Len, ot.st.partSize)
		}
	}
	for num := range ot.st.completed {
		if !ot.parts.Sealed(int(num)) {
			return nil, invalidToken("part %d acknowledged without a sum", num)
		}
	}
	return ot, nil
}

// partLister is the S3 call resuming needs beyond S3API. It is not part of
// S3API, whose implementations outside this package would break; an
// *s3.Client has it.
type partLister interface {
	ListParts(ctx context.Context, in *s3.ListPartsInput, optFns ...func(*s3.Options)) (*s3.ListPartsOutput, error)
}

// partsQuery addresses a multipart upload's ListParts.
type partsQuery struct {
	bucket, key, id        *string
	owner                  *string
	payer                  types.RequestPayer
	sseAlg, sseKey, sseMD5 *string
}

// listPageSize is the MaxParts of each ListParts.
const listPageSize = 1000

// maxListPartsAnswer bounds the body of one ListParts answer, which the
// SDK decodes whole before any part can be checked: an honest page of
// 1,000 parts takes about 300 KB (a part with a SHA-256 checksum about
// 300 bytes), and even 10,000 parts in one page (a server that ignores
// MaxParts) fit.
const maxListPartsAnswer = 4 << 20

// listParts lists the upload's parts, up to part number most. The answers
// are the server's word, checked as far as they can be: part numbers
// increase strictly within and across pages, from 1 to MaxUploadParts;
// each truncated page lists a part and moves the marker forward, so that
// no server can make the listing endless (at most MaxUploadParts pages); a
// part beyond most fails with ErrResumeMismatch (a part the object does
// not have). NoSuchUpload fails with ErrResumeStale.
func (c *Client) listParts(ctx context.Context, h *tokenHeader, q partsQuery, most int32, optFns []func(*s3.Options)) (map[int32]types.Part, error) {
	lister, ok := c.s3.(partLister)
	if !ok {
		return nil, invalid("the S3 client given to New (%T) has no ListParts method, which resuming needs (an *s3.Client has it)", c.s3)
	}
	optFns = append(slices.Clip(optFns), limitResponseBody(maxListPartsAnswer))
	listed := map[int32]types.Part{}
	var marker int32
	for {
		in := &s3.ListPartsInput{
			Bucket: q.bucket, Key: q.key, UploadId: q.id, MaxParts: aws.Int32(listPageSize),
			ExpectedBucketOwner: q.owner, RequestPayer: q.payer,
			SSECustomerAlgorithm: q.sseAlg, SSECustomerKey: q.sseKey, SSECustomerKeyMD5: q.sseMD5,
		}
		if marker > 0 {
			in.PartNumberMarker = aws.String(strconv.Itoa(int(marker)))
		}
		out, err := lister.ListParts(ctx, in, optFns...)
		if err != nil {
			if isNoSuchUpload(err) {
				return nil, h.refuse(0, ErrResumeStale, "%v", err)
			}
			return nil, fmt.Errorf("ListParts: %w", err)
		}
		prev := marker
		for _, p := range out.Parts {
			n := aws.ToInt32(p.PartNumber)
			switch {
			case n <= prev || n > MaxUploadParts:
				return nil, fmt.Errorf("%w: ListParts listed part %d after part %d", ErrBadResponse, n, prev)
			case aws.ToInt64(p.Size) < 0:
				return nil, fmt.Errorf("%w: ListParts listed part %d with size %d", ErrBadResponse, n, aws.ToInt64(p.Size))
			case n > most:
				return nil, h.refuse(n, ErrResumeMismatch, "S3 holds a part beyond the object's last part %d", most)
			}
			listed[n] = p
			prev = n
		}
		if !aws.ToBool(out.IsTruncated) {
			return listed, nil
		}
		next := prev
		if s := aws.ToString(out.NextPartNumberMarker); s != "" {
			v, err := strconv.ParseInt(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: ListParts marker %q", ErrBadResponse, s)
			}
			next = int32(v)
		}
		if len(out.Parts) == 0 || next <= marker || next < prev || next > MaxUploadParts {
			return nil, fmt.Errorf("%w: ListParts truncated without progress (marker %d, then %d)", ErrBadResponse, marker, next)
		}
		marker = next
	}
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsu) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}

// confirmed reports whether S3 lists part num as the token acknowledged
// it: the same ETag and the ciphertext size the part must have (ctLen).
// A part that differs is not trusted: it is sent again, with the same
// plaintext, so the same ciphertext.
func confirmed(listed map[int32]types.Part, cp types.CompletedPart, ctLen int64) bool {
	p, ok := listed[aws.ToInt32(cp.PartNumber)]
	return ok && aws.ToInt64(p.Size) == ctLen && etagOf(p.ETag) != "" && etagOf(p.ETag) == etagOf(cp.ETag)
}

func etagOf(s *string) string { return strings.Trim(aws.ToString(s), `"`) }

// ResumeToken returns a resume token of an encrypted multipart upload this
// Client holds (created by CreateMultipartUpload, or taken up by
// ResumeMultipartUpload): it records the upload, its part size, its
// envelope (the wrapped data key only) and, sealed under a key derived
// from the data key, the sums of the parts this Client encrypted and the
// ETags S3 answered for them. Another process (or this one, later) takes
// the upload up with ResumeMultipartUpload and the same keyring, and a
// token handed back from there brings its parts in here the same way:
// workers each upload some parts and return their token, and the process
// that completes the upload merges them. Treat a token as a secret's
// ciphertext: it reveals nothing without the keyring, but keep it with
// the care of the upload itself (0600). ErrUnknownUpload for an upload
// this Client does not hold.
func (c *Client) ResumeToken(bucket, key, uploadID string) ([]byte, error) {
	st := c.uploads.get(uploadKey{bucket: bucket, key: key, id: uploadID})
	if st == nil {
		return nil, objectError("ResumeToken", &bucket, &key, partError(uploadID, 0, ErrUnknownUpload, ""))
	}
	st.mu.Lock()
	state := &uploadState{
		partSize: st.partSize, size: -1, last: st.last, checksumAlg: st.checksumAlg,
		instr: st.instr, instrIn: st.instrIn, completed: map[int32]types.CompletedPart{},
	}
	for n, p := range st.uploaded {
		if p != nil {
			state.completed[n] = *p
		}
	}
	st.mu.Unlock()
	tok, err := sealToken(st.parts, st.header, state)
	return tok, objectError("ResumeToken", &bucket, &key, err)
}

// ResumeMultipartUploadInput takes up an encrypted multipart upload from a
// resume token.
type ResumeMultipartUploadInput struct {
	// Token is a resume token from ResumeToken or from an Upload's
	// OnResumeToken.
	Token []byte
	// The settings of the upload's later requests, as they would be given
	// to UploadPart (and ListParts): the SSE-C key when the upload uses
	// one, the expected bucket owner, the request payer.
	ExpectedBucketOwner  *string
	RequestPayer         types.RequestPayer
	SSECustomerAlgorithm *string
	SSECustomerKey       *string
	SSECustomerKeyMD5    *string
}

// ResumeMultipartUploadOutput describes an upload taken up from a token.
type ResumeMultipartUploadOutput struct {
	Bucket, Key, UploadID string
	// PartSize is the upload's part size (see WithPartSize).
	PartSize int64
	// LastPart is the number of the last part, once a token recorded it;
	// 0 while unknown.
	LastPart int32
	// Uploaded are the parts S3 holds as the tokens taken up record them
	// (same ETag and size); nothing needs to be sent again for them.
	Uploaded []int32
	// Pending are parts that were encrypted before, and perhaps sent, but
	// that S3 does not confirm: upload them again, with the plaintext they
	// were given before (other bytes fail with ErrPartConflict).
	Pending []int32
	// Unrecorded are parts S3 holds that no token taken up records (a
	// worker that has not handed its token back, or a process that died
	// before its token was saved): hand their token in, or upload them
	// again, only ever with the plaintext that part number was given.
	Unrecorded []int32
}

// ResumeMultipartUpload takes up an encrypted multipart upload from a
// resume token, in this Client, so that UploadPart, ResumeToken and
// CompleteMultipartUpload work as for an upload it created. The keyring
// unwraps the data key from the envelope in the token (a token opens only
// for a holder of the keyring); the token is authenticated, bound to the
// bucket, key and upload id it names; then ListParts (bounded, see
// ListParts' checks in the package documentation) tells which of the parts
// the token acknowledges S3 still holds with the same ETag and size. When
// this Client already holds the upload, the token's parts are merged into
// it: the way a process that completes an upload collects the parts that
// workers uploaded. A part both record must have the same sum
// (ErrPartConflict otherwise, nothing merged). The sums of a token that
// opens stay merged even when the take-up is refused afterwards (ListParts
// failing, another part size or last part): a holder of the data key
// sealed those parts, so this Client must not seal them with other bytes,
// and the token taken up again brings them in. Calls that take one token
// up at once all succeed: the later ones merge into the upload the first
// one took up.
//
// Refusals are *ResumeError: ErrInvalidResumeToken (malformed, altered, or
// another upload's), ErrResumeStale (NoSuchUpload: completed or aborted),
// ErrResumeMismatch (a part beyond the last), or the keyring's error.
// The encryption context of the request is taken from
// WithEncryptionContext, as for GetObject.
func (c *Client) ResumeMultipartUpload(ctx context.Context, in *ResumeMultipartUploadInput, optFns ...func(*s3.Options)) (*ResumeMultipartUploadOutput, error) {
	if in == nil {
		return nil, invalid("nil ResumeMultipartUploadInput")
	}
	out, err := c.resumeMultipartUpload(ctx, in, withSafety(optFns), false)
	if errors.Is(err, errTakenUpMeanwhile) {
		// Another call took the upload up first: merge into it.
		out, err = c.resumeMultipartUpload(ctx, in, withSafety(optFns), true)
	}
	if err != nil {
		var b, k string
		if re := (*ResumeError)(nil); errors.As(err, &re) {
			b, k = re.Bucket, re.Key
		}
		return nil, objectError("ResumeMultipartUpload", &b, &k, err)
	}
	return out, nil
}

// errTakenUpMeanwhile: a concurrent call of this Client took the upload up
// while this one opened its token; ResumeMultipartUpload then takes the
// token up again, merging it into the upload held.
var errTakenUpMeanwhile = errors.New("the upload was taken up concurrently by this Client")

func (c *Client) resumeMultipartUpload(ctx context.Context, in *ResumeMultipartUploadInput, optFns []func(*s3.Options), retried bool) (*ResumeMultipartUploadOutput, error) {
	if err := checkSSEC(c.s3, in.SSECustomerKey); err != nil {
		return nil, err
	}
	h, _, err := parseToken(in.Token)
	if err != nil {
		return nil, invalidToken("%v", err)
	}
	k := uploadKey{bucket: h.bucket, key: h.key, id: h.uploadID}
	held := c.uploads.get(k)
	ot, err := c.openToken(ctx, in.Token, held)
	if err != nil {
		return nil, err
	}
	limits := limitsFrom(ctx)
	if held != nil {
		limits = held.limits
	}
	if err := checkPartSize(ot.st.partSize, limits); err != nil {
		return nil, h.refuse(0, ErrResumeMismatch, "%v", err)
	}
	most := ot.st.last
	if most == 0 {
		most = int32(min(limits.maxParts, MaxUploadParts))
	}
	listed, err := c.listParts(ctx, h, partsQuery{
		bucket: &h.bucket, key: &h.key, id: &h.uploadID, owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
		sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
	}, most, optFns)
	if err != nil {
		return nil, err
	}
	recorded := map[int32]objectcrypto.PartInfo{}
	for _, p := range ot.parts.Recorded() {
		recorded[int32(p.Num)] = p
	}
	st := held
	if st == nil {
		st = &mpu{
			parts: ot.parts, partSize: ot.st.partSize, limits: limits, header: h,
			instr: ot.st.instr, checksums: ot.st.checksumAlg != "", checksumAlg: ot.st.checksumAlg,
			uploaded: map[int32]*types.CompletedPart{},
		}
		if st.instr != nil {
			st.instrIn = ot.st.instrIn
			st.instrIn.Bucket, st.instrIn.Key = aws.String(h.bucket), aws.String(h.key)
			st.instrIn.ExpectedBucketOwner, st.instrIn.RequestPayer = in.ExpectedBucketOwner, in.RequestPayer
			st.instrIn.SSECustomerKey, st.instrIn.SSECustomerKeyMD5 = in.SSECustomerKey, in.SSECustomerKeyMD5
		}
	} else if st.partSize != ot.st.partSize {
		return nil, h.refuse(0, ErrResumeMismatch, "part size %d, the upload held has %d", ot.st.partSize, st.partSize)
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.completing {
		return nil, partError(h.uploadID, 0, ErrUnknownUpload, "the upload is being completed")
	}
	if last := ot.st.last; last != 0 {
		switch {
		case st.last != 0 && st.last != last:
			return nil, h.refuse(last, ErrResumeMismatch, "the token's last part is %d, the upload held has %d", last, st.last)
		case recorded[last].Num == 0:
			return nil, invalidToken("its last part %d has no sum", last)
		}
		for n := range st.uploaded {
			if n > last {
				return nil, h.refuse(n, ErrResumeMismatch, "part %d was uploaded here, beyond the token's last part %d", n, last)
			}
		}
		st.last, st.lastLen = last, recorded[last].Len
	}
	for num, rec := range recorded {
		if _, ok := st.uploaded[num]; !ok {
			st.uploaded[num] = nil // sealed: the order rules count it
		}
		cp, ok := ot.st.completed[num]
		if ok && st.uploaded[num] == nil && confirmed(listed, cp, ctLen(rec.Len, num == st.last)) {
			st.uploaded[num] = &cp
		}
	}
	if held == nil {
		if other := c.uploads.addIfAbsent(k, st); other != st {
			if retried {
				// Held by another call, then gone again: completed or
				// aborted meanwhile.
				return nil, h.refuse(0, ErrResumeStale, "the upload was taken up and given up meanwhile by another call of this Client")
			}
			return nil, errTakenUpMeanwhile
		}
	}
	out := &ResumeMultipartUploadOutput{Bucket: h.bucket, Key: h.key, UploadID: h.uploadID, PartSize: st.partSize, LastPart: st.last}
	for _, num := range slices.Sorted(maps.Keys(st.uploaded)) {
		if st.uploaded[num] != nil {
			out.Uploaded = append(out.Uploaded, num)
		} else {
			out.Pending = append(out.Pending, num)
		}
	}
	for _, num := range slices.Sorted(maps.Keys(listed)) {
		if _, ok := st.uploaded[num]; !ok {
			out.Unrecorded = append(out.Unrecorded, num)
		}
	}
	return out, nil
}

// ctLen is the ciphertext size of a part of n plaintext bytes: the last
// part carries the tag.
func ctLen(n int64, last bool) int64 {
	if last {
		return n + envelope.TagSize
	}
	return n
}
