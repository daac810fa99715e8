package encryptionclient

import (
	"bytes"
	"maps"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/envelope"
)

// The SDK inputs that one operation derives from another's: what a read
// sends first, what a multipart upload or an instruction file is created
// with, what a re-wrap copies.

// headInput is the HeadObject that comes before a GET of in: the same
// object, version, conditions and customer key.
func headInput(in *s3.GetObjectInput) *s3.HeadObjectInput {
	return &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key, VersionId: in.VersionId,
		IfMatch: in.IfMatch, IfNoneMatch: in.IfNoneMatch, IfModifiedSince: in.IfModifiedSince, IfUnmodifiedSince: in.IfUnmodifiedSince,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}
}

// createInput is the CreateMultipartUpload of a PutObject.
func createInput(in *s3.PutObjectInput, meta map[string]string) *s3.CreateMultipartUploadInput {
	return &s3.CreateMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, Metadata: meta,
		ACL: in.ACL, GrantFullControl: in.GrantFullControl, GrantRead: in.GrantRead,
		GrantReadACP: in.GrantReadACP, GrantWriteACP: in.GrantWriteACP,
		CacheControl: in.CacheControl, ContentDisposition: in.ContentDisposition, ContentEncoding: in.ContentEncoding,
		ContentLanguage: in.ContentLanguage, ContentType: in.ContentType, Expires: in.Expires,
		ChecksumAlgorithm: in.ChecksumAlgorithm, ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		ObjectLockEventHold: in.ObjectLockEventHold, ObjectLockEventHoldDurationDays: in.ObjectLockEventHoldDurationDays,
		ObjectLockEventHoldDurationYears: in.ObjectLockEventHoldDurationYears, ObjectLockLegalHoldStatus: in.ObjectLockLegalHoldStatus,
		ObjectLockMode: in.ObjectLockMode, ObjectLockRetainUntilDate: in.ObjectLockRetainUntilDate,
		ServerSideEncryption: in.ServerSideEncryption, SSEKMSKeyId: in.SSEKMSKeyId, SSEKMSEncryptionContext: in.SSEKMSEncryptionContext,
		BucketKeyEnabled: in.BucketKeyEnabled, SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey,
		SSECustomerKeyMD5: in.SSECustomerKeyMD5, StorageClass: in.StorageClass, Tagging: in.Tagging,
		WebsiteRedirectLocation: in.WebsiteRedirectLocation,
	}
}

// instructionSettings keeps what the instruction file is stored with.
func instructionSettings(in *s3.CreateMultipartUploadInput) *s3.PutObjectInput {
	return &s3.PutObjectInput{
		Bucket: in.Bucket, Key: in.Key,
		ACL: in.ACL, GrantFullControl: in.GrantFullControl, GrantRead: in.GrantRead,
		GrantReadACP: in.GrantReadACP, GrantWriteACP: in.GrantWriteACP,
		StorageClass: in.StorageClass, ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		ServerSideEncryption: in.ServerSideEncryption, SSEKMSKeyId: in.SSEKMSKeyId,
		SSEKMSEncryptionContext: in.SSEKMSEncryptionContext, BucketKeyEnabled: in.BucketKeyEnabled,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}
}

// completedPart is the CompleteMultipartUpload entry of an uploaded part.
// Its checksums are listed when the upload was created with a checksum
// algorithm.
func completedPart(num int32, out *s3.UploadPartOutput, checksums bool) *types.CompletedPart {
	p := &types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag}
	if checksums {
		p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME = out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME
		p.ChecksumSHA1, p.ChecksumSHA256 = out.ChecksumSHA1, out.ChecksumSHA256
	}
	return p
}

// rewrapRef addresses in's object for the reads of a re-wrap.
func rewrapRef(in *RewrapInput) objectRef {
	return objectRef{
		bucket: in.Bucket, key: in.Key,
		sseAlg: in.SSECustomerAlgorithm, sseKey: in.SSECustomerKey, sseMD5: in.SSECustomerKeyMD5,
		owner: in.ExpectedBucketOwner, payer: in.RequestPayer,
	}
}

// putInput rewrites the instruction file with body, keeping its metadata
// and settings, on condition that it is still the one read.
func (o *instructionFile) putInput(in *RewrapInput, suffix string, body []byte) *s3.PutObjectInput {
	ct := o.contentType
	if ct == nil {
		ct = aws.String("application/json")
	}
	p := &s3.PutObjectInput{
		Bucket: in.Bucket, Key: aws.String(aws.ToString(in.Key) + suffix),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: ct, Metadata: maps.Clone(o.meta), IfMatch: o.etag,
		StorageClass: o.class, ServerSideEncryption: o.sse,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}
	if isSSEKMS(o.sse) {
		p.SSEKMSKeyId, p.BucketKeyEnabled = o.sseKMSKeyID, o.bucketKey
	}
	return p
}

// headInstructionInput writes a new instruction file for the object head
// describes, with the object's storage and encryption settings.
func headInstructionInput(in *RewrapInput, head *s3.HeadObjectOutput, suffix string, body []byte) *s3.PutObjectInput {
	o := &instructionFile{
		meta:  map[string]string{envelope.KeyInstrFileMark: "", instrBindingKey: instructionID(body)},
		class: head.StorageClass, sse: head.ServerSideEncryption, sseKMSKeyID: head.SSEKMSKeyId, bucketKey: head.BucketKeyEnabled,
	}
	return o.putInput(in, suffix, body)
}

// copySource addresses the current version of in's object.
func copySource(in *RewrapInput) *string {
	return aws.String(url.PathEscape(aws.ToString(in.Bucket)) + "/" + escapeKey(aws.ToString(in.Key)))
}

// copyInPlaceInput copies the object onto itself with new metadata,
// keeping everything else that a copy can keep.
func copyInPlaceInput(in *RewrapInput, head *s3.HeadObjectOutput, meta map[string]string) *s3.CopyObjectInput {
	cp := &s3.CopyObjectInput{
		Bucket: in.Bucket, Key: in.Key, CopySource: copySource(in), CopySourceIfMatch: head.ETag,
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta,
		TaggingDirective: types.TaggingDirectiveCopy,
		ContentType:      head.ContentType, CacheControl: head.CacheControl, ContentDisposition: head.ContentDisposition,
		ContentEncoding: head.ContentEncoding, ContentLanguage: head.ContentLanguage, Expires: expiresOf(head),
		WebsiteRedirectLocation: head.WebsiteRedirectLocation,
		StorageClass:            head.StorageClass,
		ServerSideEncryption:    head.ServerSideEncryption,
		ObjectLockMode:          head.ObjectLockMode, ObjectLockRetainUntilDate: head.ObjectLockRetainUntilDate,
		ObjectLockLegalHoldStatus: head.ObjectLockLegalHoldStatus,
		SSECustomerAlgorithm:      in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		CopySourceSSECustomerAlgorithm: in.SSECustomerAlgorithm, CopySourceSSECustomerKey: in.SSECustomerKey,
		CopySourceSSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner:         in.ExpectedBucketOwner, ExpectedSourceBucketOwner: in.ExpectedBucketOwner,
		RequestPayer: in.RequestPayer,
	}
	if isSSEKMS(head.ServerSideEncryption) {
		cp.SSEKMSKeyId, cp.BucketKeyEnabled = head.SSEKMSKeyId, head.BucketKeyEnabled
	}
	return cp
}

// expiresOf is the object's Expires header as a time, or nil when it has
// none or S3 returned one that is not an HTTP date.
func expiresOf(head *s3.HeadObjectOutput) *time.Time {
	if head.ExpiresString == nil {
		return nil
	}
	t, err := http.ParseTime(*head.ExpiresString)
	if err != nil {
		return nil
	}
	return &t
}
