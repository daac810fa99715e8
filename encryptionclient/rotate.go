package encryptionclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/internal/listguard"
	"github.com/s3ec/s3ec-go/materials"
)

// DefaultRotateConcurrency is the default number of objects RotatePrefix
// re-wraps at once.
const DefaultRotateConcurrency = 8

// maxRotateFailures bounds the failures RotatePrefixOutput keeps; the
// progress callback sees every one.
const maxRotateFailures = 1000

// notEncryptedRecheck is how long RotatePrefix waits before it looks again
// at an object that seemed unencrypted.
const notEncryptedRecheck = 200 * time.Millisecond

// RotatePrefixInput names the objects to re-wrap and the keyring they move
// to.
type RotatePrefixInput struct {
	// Bucket is the bucket. Required.
	Bucket *string

	// Prefix limits the rotation to keys that begin with it. Default: the
	// whole bucket.
	Prefix *string

	// StartAfter resumes a rotation: only keys after it (in S3's listing
	// order) are visited. Pass the ResumeAfter of an earlier run's output
	// or of its last progress event. Default: from the start.
	StartAfter *string

	// Keyring, EncryptionContext and AllowSameKey are those of
	// [RewrapInput], for every object. A rotation never sets AllowSameKey:
	// objects already under the new key are what makes it resumable.
	Keyring           materials.Keyring
	EncryptionContext map[string]string

	// Concurrency is how many objects are re-wrapped at once. Default
	// DefaultRotateConcurrency (8); at most 10,000.
	Concurrency int

	// DryRun makes every check and key-service call but writes nothing, so
	// that the counts say what a real run would do.
	DryRun bool

	// Progress, if not nil, is called once per object listed, in no
	// particular order, from one goroutine at a time (never concurrently),
	// and must return quickly.
	Progress func(RotateEvent)

	// MultipartThreshold and PartSize are those of [RewrapInput].
	MultipartThreshold int64
	PartSize           int64

	ExpectedBucketOwner *string
	RequestPayer        types.RequestPayer

	// SSECustomerAlgorithm, SSECustomerKey and SSECustomerKeyMD5 give the
	// customer key of SSE-C objects; all objects of the prefix must use it.
	SSECustomerAlgorithm *string
	SSECustomerKey       *string
	SSECustomerKeyMD5    *string
}

// RotateStatus is what happened to one object of a rotation.
type RotateStatus int

const (
	// RotateRotated: the data key was re-wrapped under the new keyring (in
	// a dry run: would be).
	RotateRotated RotateStatus = iota + 1
	// RotateSkippedCurrent: the data key is already wrapped under the new key.
	RotateSkippedCurrent
	// RotateSkippedNotEncrypted: the object has no encryption envelope.
	RotateSkippedNotEncrypted
	// RotateSkippedInstructionFile: the key names the instruction file of
	// an existing object (it ends with the instruction-file suffix, has no
	// envelope of its own, and the object named by the key without the
	// suffix keeps its wrapped key in an instruction file); instruction
	// files are rewritten with their objects. Any other key that ends with
	// the suffix is handled as an object.
	RotateSkippedInstructionFile
	// RotateFailed: the re-wrap failed; RotateEvent.Err says why.
	RotateFailed
)

func (s RotateStatus) String() string {
	switch s {
	case RotateRotated:
		return "rotated"
	case RotateSkippedCurrent:
		return "skipped (already on the new key)"
	case RotateSkippedNotEncrypted:
		return "skipped (not encrypted)"
	case RotateSkippedInstructionFile:
		return "skipped (instruction file)"
	case RotateFailed:
		return "failed"
	}
	return "unknown"
}

// RotateCounts are the running totals of a rotation.
type RotateCounts struct {
	// Rotated counts objects re-wrapped (in a dry run: that would be).
	Rotated int64
	// Skipped counts objects left alone: SkippedCurrent +
	// SkippedNotEncrypted + SkippedInstructionFile.
	Skipped int64
	// Failed counts objects whose re-wrap failed.
	Failed int64

	// The skipped objects by reason.
	SkippedCurrent, SkippedNotEncrypted, SkippedInstructionFile int64
}

func (c *RotateCounts) add(s RotateStatus) {
	switch s {
	case RotateRotated:
		c.Rotated++
	case RotateFailed:
		c.Failed++
	default:
		c.Skipped++
		switch s {
		case RotateSkippedCurrent:
			c.SkippedCurrent++
		case RotateSkippedNotEncrypted:
			c.SkippedNotEncrypted++
		case RotateSkippedInstructionFile:
			c.SkippedInstructionFile++
		}
	}
}

// RotateEvent reports one object of a rotation.
type RotateEvent struct {
	Key    string
	Status RotateStatus
	// Err is the error of a failed object (an *ObjectError).
	Err error
	// Output is the re-wrap's output for RotateRotated objects.
	Output *RewrapOutput
	// Counts are the totals so far, this object included.
	Counts RotateCounts
	// ResumeAfter is the position to resume from: every object up to and
	// including this key has been handled. Empty until the first object in
	// listing order is done.
	ResumeAfter string
}

// RotateFailure is one object that could not be re-wrapped.
type RotateFailure struct {
	Key string
	Err error
}

// RotatePrefixOutput summarizes a rotation.
type RotatePrefixOutput struct {
	RotateCounts

	// ResumeAfter is the position up to which every listed object was
	// handled: pass it as StartAfter to continue after an interruption.
	// After a complete run it is the last key listed.
	ResumeAfter string

	// Failures lists the failed objects (the first 1000).
	Failures []RotateFailure
}

// RotatePrefix re-wraps every encrypted object under a prefix with
// in.Keyring, as [Client.Rewrap] does for one object, listing them with
// ListObjectsV2 and working on in.Concurrency objects at once.
//
// Every object is authorized by the client's keyring as Rewrap describes
// (commitment policy, key identity or allow-list, context): one it refuses,
// such as an object a bucket writer planted under a KMS key of their own,
// counts as a failure, never as rotated or skipped.
//
// Objects already under the new wrapping key are skipped (ErrSameWrappingKey
// counts as done: the new keyring proved it wraps the data key), so a
// second run skips everything and an interrupted run can simply be started
// again (with an encrypt-only RSA keyring as the new one, which cannot
// prove anything, resume with StartAfter instead); to avoid relisting, pass the ResumeAfter of
// the output or of the last progress event as StartAfter. Objects without
// an envelope and the instruction files of existing objects are skipped
// too; an object whose name merely ends with the instruction-file suffix is
// rotated like any other. A failed object does
// not stop the rotation: it is counted, reported to Progress and listed in
// the output, and a later run retries it.
//
// The error is nil when every object was visited, whatever their outcome;
// otherwise it is the listing's error or the context's, and the output
// says how far the rotation got.
func (c *Client) RotatePrefix(ctx context.Context, in *RotatePrefixInput, optFns ...func(*s3.Options)) (*RotatePrefixOutput, error) {
	if in == nil {
		return nil, invalid("nil RotatePrefixInput")
	}
	if aws.ToString(in.Bucket) == "" {
		return nil, invalid("bucket is required")
	}
	if in.Keyring == nil {
		return nil, invalid("RotatePrefixInput.Keyring is nil")
	}
	if err := checkConcurrency(in.Concurrency); err != nil {
		return nil, err
	}
	// The options every Rewrap gets, checked once before the listing: each
	// Rewrap refused them, and the prefix was reported failed object by
	// object.
	if err := checkRewrapInput(c.s3, &RewrapInput{
		Bucket: in.Bucket, Key: aws.String("-"), Keyring: in.Keyring,
		MultipartThreshold: in.MultipartThreshold, PartSize: in.PartSize, SSECustomerKey: in.SSECustomerKey,
	}); err != nil {
		return nil, err
	}
	if err := checkSSEC(c.s3, in.SSECustomerKey); err != nil {
		return nil, err
	}
	workers := in.Concurrency
	if workers == 0 {
		workers = DefaultRotateConcurrency
	}
	suffix := c.suffix(ctx)
	// Rewrap applies withSafety itself: the safe options are for the
	// calls made here (the listing, the instruction-file checks).
	safe := withSafety(optFns)

	type job struct {
		seq int
		key string
	}
	type result struct {
		job
		status RotateStatus
		err    error
		out    *RewrapOutput
	}
	jobs := make(chan job)
	results := make(chan result)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				r := result{job: j}
				if instr, err := c.isInstructionFile(ctx, &s3.HeadObjectInput{
					Bucket: in.Bucket, Key: aws.String(j.key),
					SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
					ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
				}, suffix, safe); err != nil {
					r.status, r.err = RotateFailed, objectError("RotatePrefix", in.Bucket, aws.String(j.key), err)
				} else if instr {
					r.status = RotateSkippedInstructionFile
				} else {
					rw := &RewrapInput{
						Bucket: in.Bucket, Key: aws.String(j.key), Keyring: in.Keyring,
						EncryptionContext: in.EncryptionContext, DryRun: in.DryRun,
						MultipartThreshold: in.MultipartThreshold, PartSize: in.PartSize,
						ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
						SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey,
						SSECustomerKeyMD5: in.SSECustomerKeyMD5,
					}
					r.out, r.err = c.Rewrap(ctx, rw, optFns...)
					if errors.Is(r.err, ErrNotEncrypted) && ctx.Err() == nil {
						// Some servers briefly show an object without its
						// metadata while another writer copies it in place:
						// look once more before skipping it as unencrypted.
						time.Sleep(notEncryptedRecheck)
						r.out, r.err = c.Rewrap(ctx, rw, optFns...)
					}
					switch {
					case r.err == nil:
						r.status = RotateRotated
					case errors.Is(r.err, ErrSameWrappingKey):
						r.status, r.err = RotateSkippedCurrent, nil
					case errors.Is(r.err, ErrNotEncrypted):
						r.status, r.err = RotateSkippedNotEncrypted, nil
					default:
						r.status = RotateFailed
					}
				}
				results <- r
			}
		}()
	}

	// The lister feeds the workers in listing order.
	var listErr error
	go func() {
		defer close(jobs)
		seq := 0
		var token *string
		chk := listingCheck{prefix: aws.ToString(in.Prefix)}
		listOpts := append(slices.Clip(safe), limitResponseBody(maxListingAnswer))
		for {
			page, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
				Bucket: in.Bucket, Prefix: in.Prefix, StartAfter: in.StartAfter, ContinuationToken: token,
				ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
			}, listOpts...)
			if err == nil {
				err = chk.page(page)
			}
			if err != nil {
				listErr = objectError("ListObjectsV2", in.Bucket, in.Prefix, err)
				return
			}
			for _, o := range page.Contents {
				select {
				case jobs <- job{seq: seq, key: aws.ToString(o.Key)}:
					seq++
				case <-ctx.Done():
					return
				}
			}
			if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
				return
			}
			token = page.NextContinuationToken
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	// The position advances over the longest run of finished objects from
	// the start of the listing, whatever order they finish in.
	out := &RotatePrefixOutput{ResumeAfter: aws.ToString(in.StartAfter)}
	done := map[int]string{}
	next := 0
	for r := range results {
		if ctx.Err() != nil && r.status == RotateFailed {
			continue // interrupted, not failed: a later run picks it up
		}
		out.RotateCounts.add(r.status)
		if r.status == RotateFailed && len(out.Failures) < maxRotateFailures {
			out.Failures = append(out.Failures, RotateFailure{Key: r.key, Err: r.err})
		}
		done[r.seq] = r.key
		for k, ok := done[next]; ok; k, ok = done[next] {
			out.ResumeAfter = k
			delete(done, next)
			next++
		}
		if in.Progress != nil {
			in.Progress(RotateEvent{Key: r.key, Status: r.status, Err: r.err, Output: r.out, Counts: out.RotateCounts, ResumeAfter: out.ResumeAfter})
		}
	}
	if listErr != nil {
		return out, listErr
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	return out, nil
}

// IsInstructionFile reports whether in.Key names the instruction file of
// an existing object, so that a bulk job may skip it (as RotatePrefix
// does): the key ends with the client's instruction-file suffix (or the
// one of WithInstructionFileSuffix), its own metadata holds no envelope
// key, and the object named by the key without the suffix exists and keeps
// (part of) its envelope in an instruction file: its metadata holds part
// of an envelope, or none, and then the file is marked
// (x-amz-crypto-instr-file) or, unmarked as AWS SDK Go v1's s3crypto
// writes them, its content (read when at most 64 KiB) decodes as that
// object's envelope (one more GetObject). Anything else, an
// ordinary object named like an instruction file or an orphaned
// instruction file, is not one (false, nil); nor is a missing object or
// an empty bucket or key. Other errors of the HeadObject requests are
// returned. in.VersionId is ignored; the
// other fields (SSE-C key, expected owner, request payer) are sent with
// both HeadObject requests.
func (c *Client) IsInstructionFile(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (bool, error) {
	if in == nil {
		return false, invalid("nil HeadObjectInput")
	}
	if aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "" {
		return false, nil
	}
	ok, err := c.isInstructionFile(ctx, in, c.suffix(ctx), optFns)
	return ok, objectError("IsInstructionFile", in.Bucket, in.Key, err)
}

// isInstructionFile is IsInstructionFile for a given suffix.
func (c *Client) isInstructionFile(ctx context.Context, in *s3.HeadObjectInput, suffix string, optFns []func(*s3.Options)) (bool, error) {
	ok, _, err := c.instructionFileETag(ctx, in, suffix, optFns)
	return ok, err
}

// instructionFileETag is isInstructionFile that also returns, when it is
// one, the ETag the instruction file had when it was told (its HeadObject).
func (c *Client) instructionFileETag(ctx context.Context, in *s3.HeadObjectInput, suffix string, optFns []func(*s3.Options)) (bool, *string, error) {
	key := aws.ToString(in.Key)
	base, ok := strings.CutSuffix(key, suffix)
	if !ok || base == "" {
		return false, nil, nil
	}
	head := func(k string) (*s3.HeadObjectOutput, error) {
		out, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: in.Bucket, Key: aws.String(k),
			SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
			ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		}, withSafety(optFns)...)
		if isNotFound(err) {
			return nil, nil
		}
		return out, err
	}
	instrHead, err := head(key)
	if err != nil || instrHead == nil {
		return false, nil, err
	}
	baseHead, err := head(base)
	if err != nil || baseHead == nil {
		return false, nil, err
	}
	switch instructionFileOf(baseHead.Metadata, instrHead.Metadata) {
	case isInstr:
		return true, instrHead.ETag, nil
	case maybeInstr:
		ok, err := c.envelopeOfBase(ctx, in, key, instrHead, baseHead.Metadata, withSafety(optFns))
		return ok, instrHead.ETag, err
	}
	return false, nil, nil
}

// maxListingAnswer bounds the body of one ListObjectsV2 or
// ListObjectVersions answer, which the SDK decodes whole: an honest page
// of 1,000 keys of 1,024 bytes takes about 1.5 MB.
const maxListingAnswer = 8 << 20

// maxEmptyPages bounds the pages in a row that are truncated yet list
// nothing: S3 does not send them without a delimiter, and a server that
// keeps sending them would keep a listing going forever.
const maxEmptyPages = 100

// listingCheck checks the pages of a listing as they come: every key
// starts with the prefix, and no continuation token comes back
// (listguard), so that a lying server can neither point the listing
// outside the prefix nor make it endless; truncated pages without a key
// are bounded too.
type listingCheck struct {
	prefix string
	sent   string // the token of the request just answered
	tokens listguard.Tokens
	empty  int
}

func (l *listingCheck) page(page *s3.ListObjectsV2Output) error {
	for _, o := range page.Contents {
		if k := aws.ToString(o.Key); !strings.HasPrefix(k, l.prefix) || k == "" {
			return fmt.Errorf("%w: the listing of prefix %q holds the key %q", ErrBadResponse, l.prefix, k)
		}
	}
	tok := aws.ToString(page.NextContinuationToken)
	if !aws.ToBool(page.IsTruncated) || tok == "" {
		return nil
	}
	if len(page.Contents) == 0 {
		if l.empty++; l.empty > maxEmptyPages {
			return fmt.Errorf("%w: %d listing pages in a row without a key", ErrBadResponse, l.empty)
		}
	} else {
		l.empty = 0
	}
	if !l.tokens.Next(l.sent, tok) {
		return fmt.Errorf("%w: the listing handed out a continuation token again (it would never end)", ErrBadResponse)
	}
	l.sent = tok
	return nil
}
