package encryptionclient_test

// Focused tests for S3EC specification requirements that had no direct test
// (docs/COMPLIANCE.md names them row by row).

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// Every S3 operation the client offers has exactly the signature of the
// SDK's *s3.Client method of the same name, so the client can stand in for
// the SDK client wherever only those operations are used.
func TestComplianceSameSignaturesAsSDK(t *testing.T) {
	ops := []string{
		"GetObject", "PutObject", "HeadObject", "DeleteObject", "DeleteObjects", "CopyObject",
		"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload",
	}
	ours := reflect.TypeOf((*encryptionclient.Client)(nil))
	sdk := reflect.TypeOf((*s3.Client)(nil))
	for _, name := range ops {
		m, ok := ours.MethodByName(name)
		if !ok {
			t.Errorf("Client has no %s", name)
			continue
		}
		s, ok := sdk.MethodByName(name)
		if !ok {
			t.Fatalf("s3.Client has no %s", name)
		}
		// Compare without the receiver.
		if a, b := sig(m.Type), sig(s.Type); a != b {
			t.Errorf("%s: signature %s, SDK %s", name, a, b)
		}
	}
}

func sig(f reflect.Type) string {
	s := "("
	for i := 1; i < f.NumIn(); i++ {
		s += f.In(i).String() + ","
	}
	s += ")("
	for i := 0; i < f.NumOut(); i++ {
		s += f.Out(i).String() + ","
	}
	return s + ")"
}

// An encryption client cannot be the S3 client an encryption client wraps:
// it does not satisfy S3API (it offers no ListObjectsV2 or UploadPartCopy),
// so New does not compile with one, and nil is refused at run time.
func TestComplianceClientCannotWrapItself(t *testing.T) {
	api := reflect.TypeOf((*encryptionclient.S3API)(nil)).Elem()
	if reflect.TypeOf((*encryptionclient.Client)(nil)).Implements(api) {
		t.Fatal("*encryptionclient.Client satisfies S3API: an encryption client could wrap another")
	}
	if !reflect.TypeOf((*s3.Client)(nil)).Implements(api) {
		t.Fatal("*s3.Client does not satisfy S3API")
	}
}

// DeleteObjects also deletes each object's instruction file under the
// default suffix.
func TestComplianceDeleteObjectsDefaultSuffix(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	var ids []types.ObjectIdentifier
	for _, key := range []string{"a", "b"} {
		if err := e.put(c, context.Background(), key, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if !e.exists(key + ".instruction") {
			t.Fatalf("%s: no instruction file", key)
		}
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(key)})
	}
	if _, err := c.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: ids}}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		if e.exists(key) || e.exists(key+".instruction") {
			t.Fatalf("%s: DeleteObjects left the object or its instruction file", key)
		}
	}
}

// With default options the envelope goes into the object's metadata and no
// instruction file is written.
func TestComplianceDefaultStorageIsMetadata(t *testing.T) {
	e := newEnv(t)
	for name, kr := range e.krs {
		key := "default-" + name
		if err := e.put(e.client(kr), context.Background(), key, []byte("data")); err != nil {
			t.Fatal(name, err)
		}
		_, meta, err := e.raw(key)
		if err != nil {
			t.Fatal(name, err)
		}
		for _, k := range []string{"x-amz-3", "x-amz-c", "x-amz-w", "x-amz-d", "x-amz-i"} {
			if meta[k] == "" {
				t.Errorf("%s: %s not in the object's metadata (%v)", name, k, meta)
			}
		}
		if e.exists(key + ".instruction") {
			t.Errorf("%s: an instruction file was written by default", name)
		}
	}
}
