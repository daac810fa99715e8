package encryptionclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
)

// TransferManagerOptions configure a TransferManagerAPI. The zero value of
// every field is its default.
type TransferManagerOptions struct {
	// PartSize is the plaintext size of every part but the last of the
	// multipart uploads the transfer manager starts: it must be the
	// transfer manager's Options.PartSizeBytes (a part of another size
	// fails the upload with ErrPartSize, and the transfer manager aborts
	// it). A multiple of 16 bytes from MinPartSize to MaxPartSize; default
	// DefaultUploadPartSize (8 MiB), the transfer manager's default.
	PartSize int64
}

// TransferManagerAPI is a Client seen through the S3 client interface of
// the SDK's transfer manager (github.com/aws/aws-sdk-go-v2/feature/s3/
// transfermanager, its S3APIClient): pass it to transfermanager.New. A
// *Client itself does not satisfy that interface (it has no ListObjectsV2),
// and a Client wrapped by hand fails closed (a multipart upload without a
// part size and a PartNumber GET are refused), never with plaintext.
//
// Uploads: objects under the transfer manager's multipart threshold go
// through PutObject; larger ones through the encrypting multipart API, its
// parts encrypted concurrently as the transfer manager sends them. The
// transfer manager does not say which part is the last, which carries the
// tag over all parts: a part shorter than PartSize is taken as the last
// and is sent once every earlier part was; when every part had the full
// size, CompleteMultipartUpload first sends a last part that holds the tag
// alone (16 bytes).
//
// Downloads are authenticated as GetObject's are: the transfer manager's
// first part (PartNumber 1, its default GetObjectType) is answered with the
// whole object, read and authenticated by GetObject, as if it had one part,
// so the transfer manager asks for no other. Objects larger than
// Options.BufferSize therefore fail with ErrTooLarge (unless
// Options.EnableDelayedAuthentication), inside a *TransferManagerError
// that names Client.Download, which reads any size in parallel. Ranged
// GETs (its GetObjectType ranges, or a Range in the input) are GetObject's
// ranges, refused unless Options.EnableUnauthenticatedRanges. Any other
// part number fails with ErrTransferManager.
//
// ListObjectsV2 is the plain listing (ciphertext sizes, instruction files
// included). Client.Upload and Client.Download are faster: they encrypt
// and decrypt while they read, where the transfer manager buffers every
// part, and Download verifies the tag of parallel ranges.
type TransferManagerAPI struct {
	c        *Client
	partSize int64

	mu      sync.Mutex
	uploads map[uploadKey]*tmUpload
}

// tmUpload is what a TransferManagerAPI knows of one multipart upload it
// created: which parts returned, and which one was taken as the last.
type tmUpload struct {
	checksum types.ChecksumAlgorithm

	mu       sync.Mutex
	returned map[int32]bool // parts whose UploadPart succeeded
	failed   error          // the first part that failed, once one did
	last     int32          // the short part taken as the last
	highest  int32          // the highest part number sent
	changed  chan struct{}  // closed and replaced when a part returns
}

// ForTransferManager returns the Client as the S3 client of the SDK's
// transfer manager (see TransferManagerAPI).
func (c *Client) ForTransferManager(optFns ...func(*TransferManagerOptions)) (*TransferManagerAPI, error) {
	var o TransferManagerOptions
	applyOptions(&o, optFns)
	if o.PartSize == 0 {
		o.PartSize = DefaultUploadPartSize
	}
	if err := checkPartSize(o.PartSize, defaultLimits); err != nil {
		return nil, err
	}
	return &TransferManagerAPI{c: c, partSize: o.PartSize, uploads: map[uploadKey]*tmUpload{}}, nil
}

// PutObject is Client.PutObject.
func (a *TransferManagerAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return a.c.PutObject(ctx, in, optFns...)
}

// CreateMultipartUpload is Client.CreateMultipartUpload with the part size
// of the TransferManagerAPI.
func (a *TransferManagerAPI) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	out, err := a.c.CreateMultipartUpload(WithPartSize(ctx, a.partSize), in, optFns...)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.uploads[keyOf(in.Bucket, in.Key, out.UploadId)] = &tmUpload{
		checksum: in.ChecksumAlgorithm, returned: map[int32]bool{}, changed: make(chan struct{}),
	}
	a.mu.Unlock()
	return out, nil
}

func (a *TransferManagerAPI) upload(k uploadKey) *tmUpload {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.uploads[k]
}

func (a *TransferManagerAPI) forget(k uploadKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.uploads, k)
}

// UploadPart is Client.UploadPart, with the last part found by its length:
// a part shorter than the part size is the last one. It waits until every
// earlier part was uploaded, and fails if one of them failed.
func (a *TransferManagerAPI) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if in == nil {
		return a.c.UploadPart(ctx, in, optFns...)
	}
	u := a.upload(keyOf(in.Bucket, in.Key, in.UploadId))
	if u == nil {
		return a.c.UploadPart(ctx, in, optFns...)
	}
	num := aws.ToInt32(in.PartNumber)
	req := *in
	n, body, err := partLength(in.Body, in.ContentLength, a.partSize)
	if err != nil {
		return nil, objectError("UploadPart", in.Bucket, in.Key, err)
	}
	req.Body, req.ContentLength = body, aws.Int64(n)
	u.sent(num)
	if n < a.partSize {
		if err := u.lastPart(ctx, aws.ToString(in.UploadId), num); err != nil {
			u.done(num, err)
			return nil, objectError("UploadPart", in.Bucket, in.Key, err)
		}
		ctx = WithLastPart(ctx)
	}
	out, err := a.c.UploadPart(ctx, &req, optFns...)
	u.done(num, err)
	return out, err
}

// partLength returns the plaintext length of a part's body, and the body
// to send (the same one, unless it had to be read to be measured: then
// ContentLength is set). A body longer than the part size gives its
// length too, and the part is refused by the Client.
func partLength(body io.Reader, contentLength *int64, partSize int64) (int64, io.Reader, error) {
	if contentLength != nil {
		return *contentLength, body, nil
	}
	if body == nil {
		return 0, emptyBody{}, nil
	}
	if s, ok := body.(io.Seeker); ok {
		cur, err := s.Seek(0, io.SeekCurrent)
		if err == nil {
			var end int64
			if end, err = s.Seek(0, io.SeekEnd); err == nil {
				_, err = s.Seek(cur, io.SeekStart)
			}
			if err == nil {
				return end - cur, body, nil
			}
		}
		return 0, nil, fmt.Errorf("measuring the part's body: %w", err)
	}
	buf := make([]byte, partSize+1)
	n, err := streamio.ReadFull(body, buf)
	if err != nil && err != io.EOF {
		return 0, nil, err
	}
	return int64(n), bytes.NewReader(buf[:n]), nil
}

// emptyBody is an empty body.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }

func (u *tmUpload) sent(num int32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.highest = max(u.highest, num)
}

// lastPart takes part num as the last one and waits until parts 1 to
// num−1 were uploaded. The transfer manager hands parts to its workers in
// order, so every earlier part is already on its way; if one of them
// fails, so does this one (the transfer manager then skips the parts it
// has not sent, and aborts).
func (u *tmUpload) lastPart(ctx context.Context, id string, num int32) error {
	u.mu.Lock()
	if u.last != 0 && u.last != num {
		u.mu.Unlock()
		return partError(id, num, ErrPartOrder, "part %d, shorter than the part size, was already taken as the last part (is the transfer manager's PartSizeBytes the TransferManagerOptions.PartSize?)", u.last)
	}
	u.last = num
	u.mu.Unlock()
	for {
		u.mu.Lock()
		if u.failed != nil {
			err := u.failed
			u.mu.Unlock()
			return err
		}
		missing := false
		for k := int32(1); k < num && !missing; k++ {
			missing = !u.returned[k]
		}
		ch := u.changed
		u.mu.Unlock()
		if !missing {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// done records the outcome of part num's UploadPart.
func (u *tmUpload) done(num int32, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.returned[num] = true
	} else if u.failed == nil {
		u.failed = fmt.Errorf("part %d failed: %w", num, err)
	}
	close(u.changed)
	u.changed = make(chan struct{})
}

// CompleteMultipartUpload completes the upload as Client.CompleteMultipartUpload
// does, with the parts list the Client recorded. When no part was taken as
// the last (every part had the full size), it first uploads one more part
// that holds the tag alone.
func (a *TransferManagerAPI) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if in == nil {
		return a.c.CompleteMultipartUpload(ctx, in, optFns...)
	}
	k := keyOf(in.Bucket, in.Key, in.UploadId)
	u := a.upload(k)
	if u == nil {
		return a.c.CompleteMultipartUpload(ctx, in, optFns...)
	}
	u.mu.Lock()
	last, highest, failed := u.last, u.highest, u.failed
	u.mu.Unlock()
	if failed != nil {
		return nil, objectError("CompleteMultipartUpload", in.Bucket, in.Key, failed)
	}
	if last == 0 && highest > 0 {
		tagPart := &s3.UploadPartInput{
			Bucket: in.Bucket, Key: in.Key, UploadId: in.UploadId, PartNumber: aws.Int32(highest + 1),
			Body: emptyBody{}, ContentLength: aws.Int64(0), ChecksumAlgorithm: u.checksum,
			ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
			SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		}
		if _, err := a.c.UploadPart(WithLastPart(ctx), tagPart, optFns...); err != nil {
			return nil, err
		}
		u.mu.Lock()
		u.last = highest + 1 // a retried completion sends it no more
		u.mu.Unlock()
	}
	req := *in
	req.MultipartUpload = nil // the Client's record, with the tag part
	out, err := a.c.CompleteMultipartUpload(ctx, &req, optFns...)
	if err == nil {
		a.forget(k)
	}
	return out, err
}

// AbortMultipartUpload is Client.AbortMultipartUpload.
func (a *TransferManagerAPI) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if in != nil {
		a.forget(keyOf(in.Bucket, in.Key, in.UploadId))
	}
	return a.c.AbortMultipartUpload(ctx, in, optFns...)
}

// GetObject is Client.GetObject, except that PartNumber 1 reads the whole
// object (authenticated, as GetObject reads it) and answers as a
// single-part object; other part numbers fail with ErrTransferManager.
func (a *TransferManagerAPI) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if in == nil || in.PartNumber == nil {
		out, err := a.c.GetObject(ctx, in, optFns...)
		if err != nil && in != nil && in.Range != nil && errors.Is(err, ErrPolicy) {
			err = tmError("GetObject", in.Bucket, in.Key, err, "a ranged GET cannot be authenticated (the transfer manager's GetObjectType ranges, or a Range)", "the default GetObjectType (parts), or Client.Download")
		}
		return out, err
	}
	if *in.PartNumber != 1 || in.Range != nil {
		return nil, tmError("GetObject", in.Bucket, in.Key, nil, fmt.Sprintf("part %d of an encrypted object cannot be authenticated alone", *in.PartNumber), "Client.Download")
	}
	req := *in
	req.PartNumber = nil
	out, err := a.c.GetObject(ctx, &req, optFns...)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			err = tmError("GetObject", in.Bucket, in.Key, err, "the object is read whole to be authenticated, and it exceeds Options.BufferSize", "Client.Download or Client.DownloadFile (parallel, any size)")
		}
		return nil, err
	}
	out.PartsCount, out.ContentRange = nil, nil
	return out, nil
}

// HeadObject is Client.HeadObject, except that PartNumber 1 describes the
// whole object as a single part (as GetObject answers it).
func (a *TransferManagerAPI) HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if in == nil || in.PartNumber == nil {
		return a.c.HeadObject(ctx, in, optFns...)
	}
	if *in.PartNumber != 1 {
		return nil, tmError("HeadObject", in.Bucket, in.Key, nil, fmt.Sprintf("part %d of an encrypted object cannot be read alone", *in.PartNumber), "Client.Download")
	}
	req := *in
	req.PartNumber = nil
	out, err := a.c.HeadObject(ctx, &req, optFns...)
	if err != nil {
		return nil, err
	}
	out.PartsCount, out.ContentRange = nil, nil
	return out, nil
}

// ListObjectsV2 is the plain listing: sizes are those of the ciphertext,
// and instruction files are listed as objects.
func (a *TransferManagerAPI) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return a.c.s3.ListObjectsV2(ctx, in, withSafety(optFns)...)
}

// tmError returns a refusal of the transfer manager's request, with err
// (an *ObjectError of the Client, or nil) as its cause.
func tmError(op string, bucket, key *string, err error, reason, use string) error {
	var oe *ObjectError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return objectError(op, bucket, key, &TransferManagerError{Reason: reason, Use: use, Err: err})
}
