package encryptionclient_test

import (
	"bytes"
	"context"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// Keys with '+' (and a space): the copy sources the client builds itself
// (Rewrap's copy in place of a metadata envelope, CopyObject's copy of an
// instruction file) encode '+' as %2B, which AWS S3 reads as '+' and which
// servers that read a bare '+' as a space (versitygw) read as '+' too.
// Run against versitygw with S3EC_TEST_S3_* set.
func TestPlusKeyRewrapAndCopyObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	pt := []byte("content under a key with a plus")

	// Rewrap of an object whose envelope is in its metadata: a copy onto
	// itself, addressed by the client.
	key := "plus/a+b c+d.txt"
	if err := e.put(e.client(kr), ctx, key, pt); err != nil {
		t.Fatal(err)
	}
	next := mustAES(t, nil)
	if _, err := e.client(kr).Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String(key), Keyring: next}); err != nil {
		t.Fatalf("Rewrap of %q: %v", key, err)
	}
	if got, err := e.get(e.client(next), ctx, key); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("after Rewrap, %q reads %q, %v", key, got, err)
	}
	if e.exists("plus/a b c d.txt") {
		t.Fatal("the '+' was read as a space: an object without it was created")
	}

	// CopyObject of an object whose envelope is in an instruction file:
	// the client copies the instruction file with a source it encodes.
	ic := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	src := "plus/x+y"
	if err := e.put(ic, ctx, src, pt); err != nil {
		t.Fatal(err)
	}
	dst := "plus/copy+1"
	_, err := ic.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &e.bucket, Key: aws.String(dst),
		CopySource: aws.String(e.bucket + "/plus/" + url.PathEscape("x") + "%2By"),
	})
	if err != nil {
		t.Fatalf("CopyObject of %q: %v", src, err)
	}
	if !e.exists(dst + ".instruction") {
		t.Fatal("the copy has no instruction file")
	}
	if got, err := e.get(e.client(kr), ctx, dst); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("the copy %q reads %q, %v", dst, got, err)
	}
}
