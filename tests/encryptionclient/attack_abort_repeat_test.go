package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// partsS3 is what the abort's check needs of an S3 client: S3API and
// ListParts (an *s3.Client, a hookS3).
type partsS3 interface {
	encryptionclient.S3API
	ListParts(ctx context.Context, in *s3.ListPartsInput, optFns ...func(*s3.Options)) (*s3.ListPartsOutput, error)
}

// lateAbortS3 plays the part S3 documents: a part still in progress when
// the abort arrives lands after it, so the upload still lists parts once
// the abort was answered. Its first swallow aborts are answered as done
// and not carried out; listDenied answers ListParts with AccessDenied (a
// caller without s3:ListMultipartUploadParts).
type lateAbortS3 struct {
	partsS3
	swallow    int32
	listDenied bool
	afterPart  func() // runs after each UploadPartCopy that succeeded

	aborts, lists atomic.Int32
}

func (s *lateAbortS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if s.aborts.Add(1) <= s.swallow {
		return &s3.AbortMultipartUploadOutput{}, nil
	}
	return s.partsS3.AbortMultipartUpload(ctx, in, optFns...)
}

func (s *lateAbortS3) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, optFns ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	out, err := s.partsS3.UploadPartCopy(ctx, in, optFns...)
	if err == nil && s.afterPart != nil {
		s.afterPart()
	}
	return out, err
}

func (s *lateAbortS3) ListParts(ctx context.Context, in *s3.ListPartsInput, optFns ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	s.lists.Add(1)
	if s.listDenied {
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"}
	}
	return s.partsS3.ListParts(ctx, in, optFns...)
}

// An Upload that fails after parts were stored aborts its multipart
// upload, checks with ListParts that no part is left, and aborts again
// while one is (a part that landed after the abort): nothing is left and
// the caller gets the upload's own error. A server that keeps listing
// parts gets abortTries aborts, and the caller an *UploadAbortError
// naming the upload; a ListParts the caller may not send ends the check
// after one abort, without an error. An honest server gets one abort and
// one ListParts.
func TestAttackAbortRepeatedWhilePartsListed(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := randBytes(t, 4*int(e.testPartSize()))
	for _, tc := range []struct {
		name           string
		swallow        int32
		listDenied     bool
		aborts, lists  int32
		left, abortErr bool
	}{
		{name: "honest server", aborts: 1, lists: 1},
		{name: "a part lands after the first abort", swallow: 1, aborts: 2, lists: 2},
		{name: "after the second", swallow: 2, aborts: 3, lists: 3},
		{name: "parts listed after every abort", swallow: 1 << 20, aborts: 3, lists: 3, left: true, abortErr: true},
		{name: "ListParts denied", swallow: 1, listDenied: true, aborts: 1, lists: 1, left: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "abort-" + strings.ReplaceAll(tc.name, " ", "-")
			s := &lateAbortS3{partsS3: e.plain, swallow: tc.swallow, listDenied: tc.listDenied}
			c, err := encryptionclient.New(s, kr)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stored int64
			_, err = c.Upload(e.uploadCtx(ctx), uploadInput(e.bucket, key, data, "seekable"), e.uploadOpts(func(o *encryptionclient.UploadOptions) {
				o.Concurrency = 1
				o.Progress = func(n int64) {
					if stored += n; stored >= 2*e.testPartSize() {
						cancel() // two parts are stored
					}
				}
			})...)
			mustErrorIs(t, err, context.Canceled)
			var ua *encryptionclient.UploadAbortError
			if got := errors.As(err, &ua); got != tc.abortErr {
				t.Fatalf("error %v: an *UploadAbortError %v, want %v", err, got, tc.abortErr)
			}
			if tc.abortErr && (ua.Key != key || ua.UploadID == "" || !strings.Contains(ua.AbortErr.Error(), "still lists part")) {
				t.Fatalf("the abort error %#v does not name the upload and why", ua)
			}
			if a, l := s.aborts.Load(), s.lists.Load(); a != tc.aborts || l != tc.lists {
				t.Fatalf("%d aborts and %d ListParts, want %d and %d", a, l, tc.aborts, tc.lists)
			}
			ups := e.multipartUploads()
			if (len(ups) != 0) != tc.left {
				t.Fatalf("%d uploads left, want any: %v", len(ups), tc.left)
			}
			for _, u := range ups {
				e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: u.Key, UploadId: u.UploadId})
			}
			if e.exists(key) {
				t.Fatal("a failed upload stored the object")
			}
		})
	}
}

// The multipart copy of a Rewrap takes the same abort: a part that lands
// after the first abort is removed by a second, and the object is left as
// it was. The new keyring is a local one: with the suite's "kms" keyring
// on another KMS (scripts/integration.sh local-kms), a KMS target of the
// test server would be a ReEncrypt across two servers.
func TestAttackRewrapAbortRepeatedWhilePartsListed(t *testing.T) {
	e := newEnv(t)
	old := e.krs["kms"]
	newWrap, _ := e.newKeyrings(t)
	data := randBytes(t, 11<<20+5)
	if _, err := e.client(old).PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("big"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Part 1 is copied, then the call is cancelled while the other
	// parts wait for it.
	h := newHook(e) // emulates UploadPartCopy on the fake server
	h.onPartCopy = func(in *s3.UploadPartCopyInput) error {
		if aws.ToInt32(in.PartNumber) != 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	s := &lateAbortS3{partsS3: h, swallow: 1, afterPart: cancel}
	c, err := encryptionclient.New(s, old)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("big"), Keyring: newWrap["aes"], MultipartThreshold: 1 << 20, PartSize: 5 << 20})
	mustErrorIs(t, err, context.Canceled)
	var ua *encryptionclient.UploadAbortError
	if errors.As(err, &ua) {
		t.Fatalf("the second abort removed the upload, yet: %v", err)
	}
	if a := s.aborts.Load(); a != 2 {
		t.Fatalf("%d aborts, want 2", a)
	}
	e.mustHaveNoUploads()
	if got, err := e.get(e.client(old), context.Background(), "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object does not read as before with the old key: %v", err)
	}
}
