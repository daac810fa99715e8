package encryptionclient

import (
	"context"
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
// belong to more than one object version.
func (c *Client) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if in == nil {
		return nil, invalid("nil DeleteObjectInput")
	}
	if aws.ToString(in.Bucket) == "" || aws.ToString(in.Key) == "" {
		return nil, objectError("DeleteObject", in.Bucket, in.Key, invalid("bucket and key are required"))
	}
	optFns = withSafety(optFns)
	own := in.VersionId == nil && c.ownInstructionFile(ctx, in.Bucket, in.Key, in.ExpectedBucketOwner, in.RequestPayer, optFns)
	out, err := c.s3.DeleteObject(ctx, in, optFns...)
	if err != nil {
		return nil, objectError("DeleteObject", in.Bucket, in.Key, err)
	}
	if own {
		_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{
			Bucket: in.Bucket, Key: aws.String(aws.ToString(in.Key) + c.suffix(ctx)),
			ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
			BypassGovernanceRetention: in.BypassGovernanceRetention, MFA: in.MFA,
		}, optFns...)
		if err != nil && !isNotFound(err) {
			return out, objectError("DeleteObject", in.Bucket, in.Key, err)
		}
	}
	return out, nil
}

// DeleteObjects deletes objects and the instruction files of those named
// without a VersionId (decided as DeleteObject does, before the objects are
// deleted). An instruction file is deleted only after S3 confirmed the
// delete of its object: the object is named in the answer's Deleted list.
// An object S3 failed (in Errors) or did not name keeps its instruction
// file, so it stays readable. The request is sent non-quiet so that every
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
			own[i] = c.ownInstructionFile(ctx, in.Bucket, o.Key, in.ExpectedBucketOwner, in.RequestPayer, optFns)
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
	instr := c.confirmedInstructionFiles(ctx, in.Delete.Objects, own, out)
	if quiet {
		out.Deleted = nil
	}
	for len(instr) > 0 {
		n := min(len(instr), maxDeleteBatch)
		batch := instr[:n]
		instr = instr[n:]
		res, err := c.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: in.Bucket, Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
			ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
			BypassGovernanceRetention: in.BypassGovernanceRetention, MFA: in.MFA,
		}, append(slices.Clip(optFns), limitResponseBody(deleteAnswerBound(batch)))...)
		if err != nil {
			return out, objectError("DeleteObjects", in.Bucket, nil, err)
		}
		out.Errors = append(out.Errors, res.Errors...)
	}
	return out, nil
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

// confirmedInstructionFiles returns the instruction files to delete: those
// of the requested objects (own[i]: named without a VersionId, with an
// instruction file of their own) that the answer names as deleted and not
// as failed. An answer entry stands for the delete without a version id
// unless it carries a version id the caller named for that key (S3 gives
// none, or a delete marker's, for a delete without one). Entries for keys
// that were not requested are ignored; each instruction file is named
// once.
func (c *Client) confirmedInstructionFiles(ctx context.Context, objs []types.ObjectIdentifier, own []bool, out *s3.DeleteObjectsOutput) []types.ObjectIdentifier {
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
	var instr []types.ObjectIdentifier
	seen := make(map[string]bool)
	for i, o := range objs {
		if !own[i] || !deleted[*o.Key] || seen[*o.Key] {
			continue
		}
		seen[*o.Key] = true
		instr = append(instr, types.ObjectIdentifier{Key: aws.String(*o.Key + c.suffix(ctx))})
	}
	return instr
}
