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
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "VersioningNotConfigured" || api.ErrorCode() == "NotImplemented") {
		e.t.Skipf("%s does not offer bucket versioning: %v", e.srv.Name, err)
	}
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
	if _, kept := meta["a"]; meta["b"] != "2" || kept {
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
		return accessDenied(r), nil
	}
	return f.next.RoundTrip(r)
}

// accessDenied is S3's 403 AccessDenied answer to r.
func accessDenied(r *http.Request) *http.Response {
	body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied by test</Message></Error>`
	return &http.Response{
		StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r,
	}
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

// putVersion writes key with c and returns the version id S3 reported.
func (e *env) putVersion(c *encryptionclient.Client, key, data string) string {
	e.t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: strings.NewReader(data)})
	if err != nil {
		e.t.Fatal(err)
	}
	if aws.ToString(out.VersionId) == "" {
		e.t.Fatal("versioned bucket: PutObject reported no version id")
	}
	return *out.VersionId
}

func (e *env) getVersion(c *encryptionclient.Client, key, version string) (string, error) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key), VersionId: aws.String(version)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// An old version of an object whose envelope is in an instruction file
// reads, heads and copies (restores) with the instruction file that was
// written with it, not the current one.
func TestOldVersionWithInstructionFile(t *testing.T) {
	e := newEnv(t)
	e.enableVersioning()
	c := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	v1 := e.putVersion(c, "obj", "old plaintext")
	e.putVersion(c, "obj", "new plaintext, longer")

	got, err := e.getVersion(c, "obj", v1)
	if err != nil || got != "old plaintext" {
		t.Fatalf("GetObject of the old version: %q, %v", got, err)
	}
	h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), VersionId: aws.String(v1)})
	if err != nil || aws.ToInt64(h.ContentLength) != int64(len("old plaintext")) {
		t.Fatalf("HeadObject of the old version: %v (length %d)", err, aws.ToInt64(h.ContentLength))
	}
	var sink writerAtBuffer
	if n, err := c.Download(context.Background(), &sink, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), VersionId: aws.String(v1)}); err != nil || string(sink.buf[:n]) != "old plaintext" {
		t.Fatalf("Download of the old version: %q, %v", sink.buf, err)
	}
	// Copy the old version elsewhere, and restore it onto its own key.
	for _, dst := range []string{"restored", "obj"} {
		_, err := c.CopyObject(context.Background(), &s3.CopyObjectInput{
			Bucket: &e.bucket, Key: aws.String(dst), CopySource: aws.String(e.bucket + "/obj?versionId=" + v1),
		})
		if err != nil {
			t.Fatalf("CopyObject of the old version to %s: %v", dst, err)
		}
		got, err := e.get(c, context.Background(), dst)
		if err != nil || string(got) != "old plaintext" {
			t.Fatalf("copy of the old version at %s reads %q, %v", dst, got, err)
		}
	}
	// The current version still reads, through its own instruction file.
	e.putVersion(c, "obj", "third")
	if got, err := e.get(c, context.Background(), "obj"); err != nil || string(got) != "third" {
		t.Fatalf("current version: %q, %v", got, err)
	}
}

// stripBinding rewrites key and its instruction file as another client
// would have written them: the same bytes and envelope, without s3ec-go's
// binding between the two. It returns the object's new version id.
func (e *env) stripBinding(key string) string {
	e.t.Helper()
	var version string
	for _, k := range []string{key + ".instruction", key} {
		body, meta, err := e.raw(k)
		if err != nil {
			e.t.Fatal(err)
		}
		delete(meta, "s3ec-instruction-id")
		out, err := e.plain.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: &e.bucket, Key: aws.String(k), Body: bytes.NewReader(body), Metadata: meta,
		})
		if err != nil {
			e.t.Fatal(err)
		}
		version = aws.ToString(out.VersionId)
	}
	return version
}

// For an object written without a binding (another client), the
// instruction file of an old version cannot be identified: reads and
// copies of it fail with ErrInstructionFileMismatch, and the copy writes
// nothing.
func TestOldVersionWithoutBindingRefused(t *testing.T) {
	e := newEnv(t)
	e.enableVersioning()
	c := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	e.putVersion(c, "obj", "old plaintext")
	v1 := e.stripBinding("obj")
	e.putVersion(c, "obj", "new plaintext")
	e.stripBinding("obj")

	_, err := e.getVersion(c, "obj", v1)
	mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
	_, err = c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), VersionId: aws.String(v1)})
	mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
	_, err = c.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: &e.bucket, Key: aws.String("restored"), CopySource: aws.String(e.bucket + "/obj?versionId=" + v1),
	})
	mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
	if e.exists("restored") || e.exists("restored.instruction") {
		t.Fatal("a refused copy wrote its destination")
	}
	// The current version still reads, by version id too.
	if got, err := e.get(c, context.Background(), "obj"); err != nil || string(got) != "new plaintext" {
		t.Fatalf("current version: %q, %v", got, err)
	}
}

// An object paired with another object's instruction file (two writers
// racing, or an instruction file put back by hand) fails with
// ErrInstructionFileMismatch, not with an unexplained authentication
// failure.
func TestInstructionFileOfAnotherWriteRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	if err := e.put(c, context.Background(), "obj", []byte("first")); err != nil {
		t.Fatal(err)
	}
	body, meta, err := e.raw("obj.instruction")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.put(c, context.Background(), "obj", []byte("second")); err != nil {
		t.Fatal(err)
	}
	e.putRaw("obj.instruction", body, meta)
	_, err = e.get(c, context.Background(), "obj")
	mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
	_, err = c.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: &e.bucket, Key: aws.String("copy"), CopySource: aws.String(e.bucket + "/obj"),
	})
	mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
	if e.exists("copy") {
		t.Fatal("a refused copy wrote its destination")
	}
}

// A re-wrap rewrites the instruction file and keeps its binding: an old
// version then reads with the newest instruction file bound to it (the
// re-wrapped one), under the new key.
func TestOldVersionAfterRewrapUsesNewestBoundInstructionFile(t *testing.T) {
	e := newEnv(t)
	e.enableVersioning()
	opt := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
	c := e.client(e.krs["aes"], opt)
	v1 := e.putVersion(c, "obj", "old plaintext")
	newKR := newAESKeyringForTest(t)
	if _, err := c.Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("obj"), Keyring: newKR}); err != nil {
		t.Fatal(err)
	}
	e.putVersion(c, "obj", "new plaintext")
	got, err := e.getVersion(e.client(newKR, opt), "obj", v1)
	if err != nil || got != "old plaintext" {
		t.Fatalf("old version after a re-wrap, with the new keyring: %q, %v", got, err)
	}
}

// An instruction file rewritten by another client (no binding) still
// serves the current object, as before.
func TestUnboundInstructionFileServesCurrentObject(t *testing.T) {
	e := newEnv(t)
	e.enableVersioning()
	c := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	v := e.putVersion(c, "obj", "data")
	body, meta, err := e.raw("obj.instruction")
	if err != nil {
		t.Fatal(err)
	}
	delete(meta, "s3ec-instruction-id")
	e.putRaw("obj.instruction", body, meta)
	if got, err := e.get(c, context.Background(), "obj"); err != nil || string(got) != "data" {
		t.Fatalf("current object: %q, %v", got, err)
	}
	if got, err := e.getVersion(c, "obj", v); err != nil || got != "data" {
		t.Fatalf("current object by version id: %q, %v", got, err)
	}
}
