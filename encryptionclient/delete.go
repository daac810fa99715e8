package encryptionclient

import (
	"context"
	"strings"
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

// IsInstructionFile reports whether the object at key is the instruction
// file of another object: its name is that object's key plus the
// instruction-file suffix in force (Options.InstructionFileSuffix or
// WithInstructionFileSuffix), it carries no envelope of its own, and the
// object keeps its envelope, or part of it, in an instruction file (a V2
// object with its whole envelope there: the file carries the
// instruction-file mark). It is how DeleteObject and RotatePrefix tell
// instruction files from ordinary objects whose names end in the suffix; a
// listing tool can use it to skip them. Missing objects are not
// instruction files; other errors of the HeadObject requests are returned.
func (c *Client) IsInstructionFile(ctx context.Context, bucket, key string, optFns ...func(*s3.Options)) (bool, error) {
	base, ok := strings.CutSuffix(key, c.suffix(ctx))
	if !ok || base == "" || bucket == "" {
		return false, nil
	}
	head := func(k string) (map[string]string, error) {
		out, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}, withSafety(optFns)...)
		if err != nil {
			return nil, err
		}
		if out.Metadata == nil {
			return map[string]string{}, nil
		}
		return out.Metadata, nil
	}
	instr, err := head(key)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, objectError("IsInstructionFile", &bucket, &key, err)
	}
	baseMeta, err := head(base)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, objectError("IsInstructionFile", &bucket, &base, err)
	}
	return instructionFileOf(baseMeta, instr), nil
}

// ownInstructionFile reports whether the object at key+suffix is key's
// instruction file (instructionFileOf), from a HeadObject of each. An
// object that only ends in the suffix (an ordinary object named like an
// instruction file) is not, and neither is anything that cannot be read
// (missing, access denied, SSE-C without its key): a delete never removes
// what it cannot prove is an instruction file.
func (c *Client) ownInstructionFile(ctx context.Context, bucket, key, owner *string, payer types.RequestPayer, optFns []func(*s3.Options)) bool {
	head := func(k string) map[string]string {
		out, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String(k), ExpectedBucketOwner: owner, RequestPayer: payer}, optFns...)
		if err != nil {
			return nil
		}
		if out.Metadata == nil {
			return map[string]string{}
		}
		return out.Metadata
	}
	instr := head(aws.ToString(key) + c.suffix(ctx))
	if instr == nil {
		return false
	}
	base := head(aws.ToString(key))
	return base != nil && instructionFileOf(base, instr)
}

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
// deleted), in batches of at most 1000 keys. Failures to delete
// instruction files are reported in the output's Errors.
func (c *Client) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	if in == nil || in.Delete == nil {
		return nil, invalid("nil DeleteObjectsInput or Delete")
	}
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
	out, err := c.s3.DeleteObjects(ctx, in, optFns...)
	if err != nil {
		return nil, objectError("DeleteObjects", in.Bucket, nil, err)
	}
	var instr []types.ObjectIdentifier
	for i, o := range in.Delete.Objects {
		if own[i] {
			instr = append(instr, types.ObjectIdentifier{Key: aws.String(*o.Key + c.suffix(ctx))})
		}
	}
	for len(instr) > 0 {
		n := min(len(instr), maxDeleteBatch)
		batch := instr[:n]
		instr = instr[n:]
		res, err := c.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: in.Bucket, Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
			ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
			BypassGovernanceRetention: in.BypassGovernanceRetention, MFA: in.MFA,
		}, optFns...)
		if err != nil {
			return out, objectError("DeleteObjects", in.Bucket, nil, err)
		}
		out.Errors = append(out.Errors, res.Errors...)
	}
	return out, nil
}
