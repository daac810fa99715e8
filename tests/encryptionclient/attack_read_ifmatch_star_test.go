package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// A ranged GetObject pins its GET to HeadObject's ETag whatever If-Match
// the caller gave. It did so only when the caller gave none: a caller's
// If-Match "*" ("the object must exist", a condition every object meets)
// stayed the pin, so an object replaced between the HeadObject that read
// the envelope and the GET of the bytes was decrypted with the first
// object's key and released as plaintext, with no ErrObjectChanged (an
// outside review).
func TestAttackRangedGetIfMatchStarPinned(t *testing.T) {
	e := newLiarEnv(t)
	if e.srv.Real {
		t.Skip("the liar rewrites answers of the in-process server only")
	}
	ctx := context.Background()
	honest := e.client(e.krs["aes"])
	first, second := randBytes(t, 5000), randBytes(t, 5000)
	c := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	if err := e.put(honest, ctx, "obj", first); err != nil {
		t.Fatal(err)
	}
	// A writer replaces the object right after the HeadObject (an
	// unversioned bucket: no version id to pin).
	var once atomic.Bool
	replace := func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		if once.CompareAndSwap(false, true) {
			if err := e.put(honest, ctx, "obj", second); err != nil {
				return nil, err
			}
		}
		return resp, nil
	}
	e.liar.On(s3test.Head("obj"), 0, replace, s3test.DelHeader("X-Amz-Version-Id"))

	in := e.in("obj")
	in.Range = aws.String("bytes=100-199")
	in.IfMatch = aws.String("*")
	got, err := readAll(ctx, c, in)
	if !errors.Is(err, encryptionclient.ErrObjectChanged) {
		t.Errorf("ranged GetObject with If-Match \"*\" of an object replaced after HeadObject: %d bytes (the first object's: %v, the second's: %v), error %v, want ErrObjectChanged",
			len(got), bytes.Equal(got, first[100:200]), bytes.Equal(got, second[100:200]), err)
	}
}

// The sibling in CopyObject: the copy is pinned to the ETag of the
// HeadObject whose envelope it carries, whatever CopySourceIfMatch the
// caller gave, and the caller's conditions are checked by that HeadObject.
// With "*" kept as the pin, a source replaced between the two was copied
// with the first object's envelope over the second's body (metadata
// REPLACE): a destination nobody can decrypt, reported as copied.
func TestAttackCopyIfMatchStarPinned(t *testing.T) {
	e := newLiarEnv(t)
	if e.srv.Real {
		t.Skip("the liar rewrites answers of the in-process server only")
	}
	ctx := context.Background()
	honest := e.client(e.krs["aes"])
	if err := e.put(honest, ctx, "src", randBytes(t, 5000)); err != nil {
		t.Fatal(err)
	}
	var once atomic.Bool
	replace := func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		if once.CompareAndSwap(false, true) {
			if err := e.put(honest, ctx, "src", randBytes(t, 5000)); err != nil {
				return nil, err
			}
		}
		return resp, nil
	}
	e.liar.On(s3test.Head("src"), 0, replace, s3test.DelHeader("X-Amz-Version-Id"))
	c := e.lyingClient(e.krs["aes"])
	_, err := c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &e.bucket, Key: aws.String("dst"), CopySource: aws.String(e.bucket + "/src"),
		CopySourceIfMatch: aws.String("*"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"note": "copied"},
	})
	if !errors.Is(err, encryptionclient.ErrObjectChanged) {
		t.Errorf("CopyObject with CopySourceIfMatch \"*\" of a source replaced after HeadObject: %v, want ErrObjectChanged", err)
	}
	if _, rerr := readAll(ctx, honest, e.in("dst")); err == nil && rerr != nil {
		t.Errorf("the copy reported done does not read: %v", rerr)
	}
}

// The caller's conditions on the copy source still hold: HeadObject
// checks them before anything is copied.
func TestCopySourceConditionsChecked(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(e.krs["aes"])
	if err := e.put(c, ctx, "src", randBytes(t, 100)); err != nil {
		t.Fatal(err)
	}
	_, err := c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &e.bucket, Key: aws.String("dst"), CopySource: aws.String(e.bucket + "/src"),
		CopySourceIfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`),
	})
	if err == nil {
		t.Fatal("CopyObject with a CopySourceIfMatch the source does not match succeeded")
	}
	if _, herr := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("dst")}); herr == nil {
		t.Error("the refused copy left a destination object")
	}
}
