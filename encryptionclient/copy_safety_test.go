package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// enableVersioning turns versioning on for e's bucket.
func (e *env) enableVersioning() {
	e.t.Helper()
	_, err := e.plain.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket:                  &e.bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// The in-process server refuses a copy onto itself that changes nothing,
// as S3 does, and reports no version id in an unversioned bucket.
func TestServerRefusesSelfCopyLikeS3(t *testing.T) {
	e := newEnv(t)
	e.putRaw("k", []byte("body"), map[string]string{"a": "1"})
	_, err := e.plain.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: &e.bucket, Key: aws.String("k"), CopySource: aws.String(e.bucket + "/k"),
	})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidRequest" {
		t.Fatalf("self-copy without change: got %v, want InvalidRequest", err)
	}
	out, err := e.plain.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: &e.bucket, Key: aws.String("k"), CopySource: aws.String(e.bucket + "/k"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"b": "2"},
	})
	if err != nil {
		t.Fatalf("self-copy with REPLACE: %v", err)
	}
	if out.VersionId != nil && !e.srv.Real {
		t.Fatalf("unversioned bucket: CopyObject reported version %q", *out.VersionId)
	}
	_, meta, err := e.raw("k")
	if err != nil {
		t.Fatal(err)
	}
	// (s3mem merges the metadata of every PUT with the object it
	// replaces, so "a" may survive on the in-process server.)
	if meta["b"] != "2" || (e.srv.Real && meta["a"] != "") {
		t.Fatalf("REPLACE kept or lost metadata: %v", meta)
	}
}

// Editing an object's metadata in place (a copy onto itself with
// MetadataDirective REPLACE) keeps the object, whichever way its envelope
// is stored and whether or not the bucket is versioned.
func TestCopyObjectReplaceInPlaceKeepsObject(t *testing.T) {
	for _, versioned := range []bool{false, true} {
		for name, storage := range map[string]encryptionclient.EnvelopeStorage{"instruction file": encryptionclient.StoreInstructionFile, "metadata": encryptionclient.StoreMetadata} {
			t.Run(name+map[bool]string{false: " unversioned", true: " versioned"}[versioned], func(t *testing.T) {
				e := newEnv(t)
				if versioned {
					e.enableVersioning()
				}
				c := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = storage })
				data := []byte("the only copy of this data")
				if err := e.put(c, context.Background(), "obj", data); err != nil {
					t.Fatal(err)
				}
				_, err := c.CopyObject(context.Background(), &s3.CopyObjectInput{
					Bucket: &e.bucket, Key: aws.String("obj"), CopySource: aws.String(e.bucket + "/obj"),
					MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"color": "blue"},
				})
				if err != nil {
					t.Errorf("in-place REPLACE copy: %v", err)
				}
				got, err := e.get(c, context.Background(), "obj")
				if err != nil {
					t.Fatalf("object after an in-place metadata edit: %v", err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("object after an in-place metadata edit: %q", got)
				}
				h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj")})
				if err != nil {
					t.Fatal(err)
				}
				if h.Metadata["color"] != "blue" {
					t.Fatalf("metadata not replaced: %v", h.Metadata)
				}
			})
		}
	}
}

// failInstructionCopies makes the server refuse (403) every CopyObject
// whose destination is an instruction file.
type failInstructionCopies struct{ next http.RoundTripper }

func (f failInstructionCopies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "" && strings.HasSuffix(r.URL.Path, ".instruction") {
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied by test</Message></Error>`
		return &http.Response{
			StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)), Request: r,
		}, nil
	}
	return f.next.RoundTrip(r)
}

// When the instruction file cannot be copied, the clean-up removes only
// what the call created: a destination that did not exist, or the version
// it wrote. An object that existed before is never deleted.
func TestCopyObjectCleanupDeletesOnlyWhatItCreated(t *testing.T) {
	for _, versioned := range []bool{false, true} {
		t.Run(map[bool]string{false: "unversioned", true: "versioned"}[versioned], func(t *testing.T) {
			e := newEnv(t)
			if versioned {
				e.enableVersioning()
			}
			opt := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
			c := e.client(e.krs["aes"], opt)
			if err := e.put(c, context.Background(), "src", []byte("source")); err != nil {
				t.Fatal(err)
			}
			if err := e.put(c, context.Background(), "old", []byte("existing destination")); err != nil {
				t.Fatal(err)
			}
			failing, err := encryptionclient.New(e.srv.Client(func(o *s3.Options) {
				o.HTTPClient = &http.Client{Transport: failInstructionCopies{http.DefaultTransport}}
			}), e.krs["aes"], opt)
			if err != nil {
				t.Fatal(err)
			}
			// A new destination: removed again.
			_, err = failing.CopyObject(context.Background(), &s3.CopyObjectInput{
				Bucket: &e.bucket, Key: aws.String("new"), CopySource: aws.String(e.bucket + "/src"),
			})
			if err == nil {
				t.Fatal("CopyObject succeeded without its instruction file")
			}
			if e.exists("new") {
				t.Error("a destination created by the failed copy was left behind")
			}
			// An existing destination: never deleted.
			_, err = failing.CopyObject(context.Background(), &s3.CopyObjectInput{
				Bucket: &e.bucket, Key: aws.String("old"), CopySource: aws.String(e.bucket + "/src"),
			})
			if err == nil {
				t.Fatal("CopyObject succeeded without its instruction file")
			}
			if !e.exists("old") {
				t.Fatal("the failed copy's clean-up deleted an object that existed before it")
			}
			if versioned {
				// The version the copy wrote is gone; the old one reads.
				got, err := e.get(c, context.Background(), "old")
				if err != nil || string(got) != "existing destination" {
					t.Fatalf("existing destination after the failed copy: %q, %v", got, err)
				}
			}
			if got, err := e.get(c, context.Background(), "src"); err != nil || string(got) != "source" {
				t.Fatalf("source after the failed copies: %q, %v", got, err)
			}
		})
	}
}
