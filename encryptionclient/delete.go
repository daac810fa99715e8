package encryptionclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// maxDeleteBatch is S3's limit on keys per DeleteObjects request.
const maxDeleteBatch = 1000

// deleteLookups bounds the HeadObject requests DeleteObjects runs at once
// to tell instruction files from objects.
const deleteLookups = 16

// DeleteObject deletes an object and its instruction file, if any: the
// object named by the key plus the instruction-file suffix is deleted only
// when it is the object's instruction file (it carries no envelope of its
// own, and the object keeps its envelope, or part of it, in an
// instruction file). An ordinary object whose name ends in the suffix is
// never deleted with its namesake, and neither is an instruction file that
// cannot be read (an SSE-C object's: delete it with the S3 client). With a
// VersionId only that version of the object is deleted, and the
// instruction file is left alone: its versions are found by the binding id
// the object carries (see findInstructionFile), and a copy or restore of
// the version carries the same id, so an instruction-file version may
// belong to more than one object version. The instruction file goes only
// once a HeadObject finds the object gone (404: none, or a delete marker),
// not on the delete's answer alone, and conditional on the ETag it had
// when it was told; an object still stored keeps it, and the error says
// so.
func (c *Client) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if in == nil {
		return nil, invalid("nil DeleteObjectInput")
	}
	if aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "" {
		return nil, objectError("DeleteObject", in.Bucket, in.Key, invalid("bucket and key are required"))
	}
	optFns = withSafety(optFns)
	var own bool
	var instrETag *string
	if in.VersionId == nil {
		own, instrETag = c.ownInstructionFile(ctx, in.Bucket, in.Key, in.ExpectedBucketOwner, in.RequestPayer, optFns)
	}
	out, err := c.s3.DeleteObject(ctx, in, optFns...)
	if err != nil {
		return nil, objectError("DeleteObject", in.Bucket, in.Key, err)
	}
	if own {
		// The answer alone is no proof that the object is gone (a network
		// may answer the request itself): its instruction file, the only
		// copy of its wrapped key, goes only once S3 no longer has it.
		if err := c.confirmGone(ctx, in.Bucket, in.Key, in.ExpectedBucketOwner, in.RequestPayer, optFns); err != nil {
			return out, objectError("DeleteObject", in.Bucket, in.Key, err)
		}
		_, err := c.deleteIfMatch(ctx, &s3.DeleteObjectInput{
			Bucket: in.Bucket, Key: aws.String(aws.ToString(in.Key) + c.suffix(ctx)), IfMatch: instrETag,
			ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
			BypassGovernanceRetention: in.BypassGovernanceRetention, MFA: in.MFA,
		}, optFns)
		// A 412: the instruction file was replaced since it was told
		// (another writer's now), and stays.
		if err != nil && !isNotFound(err) && !isPreconditionFailed(err) {
			return out, objectError("DeleteObject", in.Bucket, in.Key, err)
		}
	}
	return out, nil
}

// confirmGone asks S3 (HeadObject) whether the object at key, whose delete
// without a version id was answered as done, is gone: a 404 (no object, or
// a delete marker) is nil; an object still stored, or a HeadObject that
// fails otherwise, is the error saying that its instruction file is kept.
func (c *Client) confirmGone(ctx context.Context, bucket, key, owner *string, payer types.RequestPayer, optFns []func(*s3.Options)) error {
	_, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key, ExpectedBucketOwner: owner, RequestPayer: payer}, optFns...)
	switch {
	case isNotFound(err):
		return nil
	case err == nil:
		return errStillStored
	}
	return fmt.Errorf("the delete was answered as done, but it could not be confirmed (HeadObject: %w); the object's instruction file was kept", err)
}

// errStillStored is confirmGone's error for an object still stored.
var errStillStored = errors.New("the delete was answered as done, but S3 still stores the object (a HeadObject found it: the answer was not S3's, or the object was written again meanwhile); its instruction file was kept, so that it stays readable")

// deleteIfMatch sends in, conditional on in.IfMatch when set; a server
// that does not implement conditional deletes (501 NotImplemented) gets
// the request again without the condition.
func (c *Client) deleteIfMatch(ctx context.Context, in *s3.DeleteObjectInput, optFns []func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	out, err := c.s3.DeleteObject(ctx, in, optFns...)
	if in.IfMatch != nil && notImplemented(err) {
		plain := *in
		plain.IfMatch = nil
		out, err = c.s3.DeleteObject(ctx, &plain, optFns...)
	}
	return out, err
}

// DeleteObjects deletes objects and the instruction files of those named
// without a VersionId (decided as DeleteObject does, before the objects are
// deleted). An instruction file is deleted only after S3 confirmed the
// delete of its object: the object is named in the answer's Deleted list,
// and a HeadObject of it then answers 404 (goneInstructionFiles). An
// object S3 failed (in Errors) or did not name keeps its instruction
// file, so it stays readable; one named Deleted that is still stored is
// moved to Errors (code ObjectStillStored). The request is sent non-quiet so that every
// delete is confirmed; with Quiet set the caller still gets an answer
// without the Deleted list. Failures to delete instruction files are
// reported in the output's Errors.
func (c *Client) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	if in == nil || in.Delete == nil {
		return nil, invalid("nil DeleteObjectsInput or Delete")
	}
	optFns = withSafety(optFns)
	// Which instruction files go is decided before the objects are gone.
	own := make([]bool, len(in.Delete.Objects))
	etags := make([]*string, len(in.Delete.Objects))
	var wg sync.WaitGroup
	sem := make(chan struct{}, deleteLookups)
	for i, o := range in.Delete.Objects {
		if o.VersionId != nil || o.Key == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			own[i], etags[i] = c.ownInstructionFile(ctx, in.Bucket, o.Key, in.ExpectedBucketOwner, in.RequestPayer, optFns)
		}()
	}
	wg.Wait()
	// Quiet answers name only failures, so a key missing from a truncated
	// or lying answer would pass for deleted: ask for the Deleted list.
	quiet := aws.ToBool(in.Delete.Quiet)
	req := *in
	del := *in.Delete
	del.Quiet = aws.Bool(false)
	req.Delete = &del
	out, err := c.s3.DeleteObjects(ctx, &req, append(slices.Clip(optFns), limitResponseBody(deleteAnswerBound(req.Delete.Objects)))...)
	if err != nil {
		return nil, objectError("DeleteObjects", in.Bucket, nil, err)
	}
	instr := c.goneInstructionFiles(ctx, in, c.confirmedInstructionFiles(in.Delete.Objects, own, out), etags, out, optFns)
	if quiet {
		out.Deleted = nil
	}
	for len(instr) > 0 {
		n := min(len(instr), maxDeleteBatch)
		batch := instr[:n]
		instr = instr[n:]
		del := func(batch []types.ObjectIdentifier) (*s3.DeleteObjectsOutput, error) {
			return c.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{
				Bucket: in.Bucket, Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
				ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
				BypassGovernanceRetention: in.BypassGovernanceRetention, MFA: in.MFA,
			}, append(slices.Clip(optFns), limitResponseBody(deleteAnswerBound(batch)))...)
		}
		res, err := del(batch)
		if notImplemented(err) {
			// A server without conditional deletes: the instruction files
			// go without their ETags.
			plain := slices.Clone(batch)
			for i := range plain {
				plain[i].ETag = nil
			}
			res, err = del(plain)
		}
		if err != nil {
			return out, objectError("DeleteObjects", in.Bucket, nil, err)
		}
		for _, e := range res.Errors {
			// A 412: replaced since it was told (another writer's now), kept.
			if aws.ToString(e.Code) != "PreconditionFailed" {
				out.Errors = append(out.Errors, e)
			}
		}
	}
	return out, nil
}

// goneInstructionFiles returns the instruction files to delete, each
// conditional on the ETag it had when it was told (etags): those of the
// objects at confirmed (indices into in.Delete.Objects) that S3 no longer
// stores (confirmGone, one HeadObject per such object, deleteLookups at a
// time). An object the answer named Deleted that is still stored, or
// whose delete cannot be confirmed, keeps its instruction file and moves
// from out.Deleted to out.Errors (code ObjectStillStored, or
// DeleteNotConfirmed), so that the caller is not told it is gone.
func (c *Client) goneInstructionFiles(ctx context.Context, in *s3.DeleteObjectsInput, confirmed []int, etags []*string, out *s3.DeleteObjectsOutput, optFns []func(*s3.Options)) []types.ObjectIdentifier {
	objs := in.Delete.Objects
	fail := make([]error, len(confirmed))
	var wg sync.WaitGroup
	sem := make(chan struct{}, deleteLookups)
	for j, i := range confirmed {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fail[j] = c.confirmGone(ctx, in.Bucket, objs[i].Key, in.ExpectedBucketOwner, in.RequestPayer, optFns)
		}()
	}
	wg.Wait()
	var instr []types.ObjectIdentifier
	kept := make(map[string]bool)
	for j, i := range confirmed {
		key := aws.ToString(objs[i].Key)
		if fail[j] == nil {
			instr = append(instr, types.ObjectIdentifier{Key: aws.String(key + c.suffix(ctx)), ETag: etags[i]})
			continue
		}
		kept[key] = true
		code := "DeleteNotConfirmed"
		if errors.Is(fail[j], errStillStored) {
			code = "ObjectStillStored"
		}
		out.Errors = append(out.Errors, types.Error{Key: aws.String(key), Code: aws.String(code), Message: aws.String(fail[j].Error())})
	}
	if len(kept) > 0 {
		out.Deleted = slices.DeleteFunc(out.Deleted, func(d types.DeletedObject) bool {
			return d.Key != nil && aws.ToString(d.VersionId) == "" && kept[*d.Key]
		})
	}
	return instr
}

// deleteAnswerBound bounds the body of the answer to a DeleteObjects of
// objs. S3 names each requested object once, in Deleted or in Errors, so
// an honest answer holds an entry per object: its key and version id as
// sent, which XML escaping may grow sixfold (a '"' is written &quot;),
// and at most deleteAnswerEntry bytes more (the element names, a delete
// marker's version id, an error's code and message); deleteAnswerBase
// more covers the document around them. The SDK decodes the answer whole
// into a slice of entries, many times the bytes read; the general bound
// of 2xx answers (maxResultAnswer) would let a server make the client
// hold hundreds of MiB of entries for a request of one key.
func deleteAnswerBound(objs []types.ObjectIdentifier) int64 {
	n := int64(deleteAnswerBase)
	for _, o := range objs {
		n += 6*int64(len(aws.ToString(o.Key))+len(aws.ToString(o.VersionId))) + deleteAnswerEntry
	}
	return min(n, maxResultAnswer)
}

const (
	deleteAnswerBase  = 64 << 10
	deleteAnswerEntry = 2 << 10
)

// confirmedInstructionFiles returns the objects whose instruction files
// may be deleted (indices into objs): the requested objects (own[i]: named without a VersionId, with an
// instruction file of their own) that the answer names as deleted and not
// as failed. An answer entry stands for the delete without a version id
// unless it carries a version id the caller named for that key (S3 gives
// none, or a delete marker's, for a delete without one). Entries for keys
// that were not requested are ignored; each key is named once.
func (c *Client) confirmedInstructionFiles(objs []types.ObjectIdentifier, own []bool, out *s3.DeleteObjectsOutput) []int {
	named := make(map[string]map[string]bool) // key -> version ids the caller named
	for _, o := range objs {
		if o.Key != nil && o.VersionId != nil {
			if named[*o.Key] == nil {
				named[*o.Key] = make(map[string]bool)
			}
			named[*o.Key][*o.VersionId] = true
		}
	}
	unversioned := func(key, version *string) bool {
		return key != nil && (aws.ToString(version) == "" || !named[*key][*version])
	}
	deleted := make(map[string]bool, len(out.Deleted))
	for _, d := range out.Deleted {
		if unversioned(d.Key, d.VersionId) {
			deleted[*d.Key] = true
		}
	}
	for _, e := range out.Errors {
		if unversioned(e.Key, e.VersionId) {
			deleted[*e.Key] = false
		}
	}
	var confirmed []int
	seen := make(map[string]bool)
	for i, o := range objs {
		if !own[i] || !deleted[*o.Key] || seen[*o.Key] {
			continue
		}
		seen[*o.Key] = true
		confirmed = append(confirmed, i)
	}
	return confirmed
}
