package encryptionclient_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// The clean-up after a write whose instruction file failed deletes "what
// the call created". What it created is known only from the write's
// answer (its version id) and from a HEAD made before the write; both
// can be wrong by the time the DELETE goes out.

// isPutOf matches a PutObject (no copy source) of key exactly.
func isPutOf(key string) s3test.Match {
	return func(req *http.Request) bool {
		return req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") == "" && strings.HasSuffix(req.URL.Path, "/"+key)
	}
}

// isCopyTo matches a CopyObject whose destination is key exactly.
func isCopyTo(key string) s3test.Match {
	return func(req *http.Request) bool {
		return req.Method == http.MethodPut && req.Header.Get("X-Amz-Copy-Source") != "" && strings.HasSuffix(req.URL.Path, "/"+key)
	}
}

// A network that rewrites answers (a plain-HTTP path, a proxy) but cannot
// sign requests answers the object's PutObject with the version id of an
// older version of the key, and refuses the instruction file's PutObject.
// The clean-up then deletes, by that version id, a version this call did
// not write: the network had the client destroy a version of its choice.
// The clean-up must delete a version only when it is the one written
// (its envelope is this call's own, as removeOwnPartial checks).
func TestAttackCleanupVersionFromAnswerIsTrusted(t *testing.T) {
	e := newLiarEnv(t)
	e.enableVersioning()
	ctx := context.Background()
	kr := e.krs["aes"]
	honest := e.client(kr)
	key := "vkey"
	old, err := honest.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader([]byte("the only copy of last year's data"))})
	if err != nil || aws.ToString(old.VersionId) == "" {
		t.Fatalf("put the old version: %v (version %q)", err, aws.ToString(old.VersionId))
	}
	c := e.lyingClient(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	e.liar.On(isPutOf(key), 1, s3test.SetHeader("X-Amz-Version-Id", *old.VersionId))
	e.liar.On(isPutOf(key+".instruction"), 0, s3test.Status(http.StatusForbidden))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader([]byte("new data"))})
	if err == nil {
		t.Fatal("PutObject succeeded without its instruction file")
	}
	if _, gerr := e.getVersion(honest, key, *old.VersionId); gerr != nil {
		t.Fatalf("the clean-up deleted version %s, which the call did not write (its answer said so): %v (PutObject: %v)", *old.VersionId, gerr, err)
	}
}

// The same through Upload's multipart path: CompleteMultipartUpload's
// answer names the older version.
func TestAttackUploadCleanupVersionFromAnswerIsTrusted(t *testing.T) {
	e := newLiarEnv(t)
	e.enableVersioning()
	ctx := context.Background()
	kr := e.krs["aes"]
	honest := e.client(kr)
	key := "vkey-mp"
	old, err := honest.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader([]byte("older version"))})
	if err != nil || aws.ToString(old.VersionId) == "" {
		t.Fatalf("put the old version: %v", err)
	}
	c := e.lyingClient(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	e.liar.On(func(req *http.Request) bool { return isCompletion(req) && strings.HasSuffix(req.URL.Path, "/"+key) }, 1,
		s3test.SetHeader("X-Amz-Version-Id", *old.VersionId))
	e.liar.On(isPutOf(key+".instruction"), 0, s3test.Status(http.StatusForbidden))
	data := randBytes(t, 3*int(e.testPartSize())+5)
	_, err = c.Upload(e.uploadCtx(ctx), uploadInput(e.bucket, key, data, "seekable"), e.uploadOpts()...)
	if err == nil {
		t.Fatal("Upload succeeded without its instruction file")
	}
	if _, gerr := e.getVersion(honest, key, *old.VersionId); gerr != nil {
		t.Fatalf("the clean-up deleted version %s, which the call did not write: %v (Upload: %v)", *old.VersionId, gerr, err)
	}
}

// A concurrent writer stores its own object at the key after this call's
// PutObject and before its clean-up (unversioned bucket). The clean-up
// deletes whatever the key holds by then: the other writer's object,
// which this call never wrote. It must delete only the object it wrote
// (its ETag, or its envelope, still at the key).
func TestAttackCleanupDeletesConcurrentWritersObject(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	key := "race"
	theirs := []byte("a concurrent writer's object")
	c := e.lyingClient(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	e.liar.On(isPutOf(key+".instruction"), 0, func(req *http.Request, resp *http.Response) (*http.Response, error) {
		e.putRaw(key, theirs, map[string]string{"writer": "other"})
		return s3test.Status(http.StatusForbidden)(req, resp)
	})
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader([]byte("ours"))})
	if err == nil {
		t.Fatal("PutObject succeeded without its instruction file")
	}
	got, _, rerr := e.raw(key)
	if rerr != nil || !bytes.Equal(got, theirs) {
		t.Fatalf("the clean-up of a failed PutObject deleted a concurrent writer's object: %v (PutObject: %v)", rerr, err)
	}
}

// The same for CopyObject: the destination did not exist before the copy
// (so the clean-up may delete it), a writer stores its object there after
// the copy, and the instruction file's copy fails.
func TestAttackCopyCleanupDeletesConcurrentWritersObject(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	opt := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
	if err := e.put(e.client(kr, opt), ctx, "src", []byte("source")); err != nil {
		t.Fatal(err)
	}
	key := "race-copy"
	theirs := []byte("a concurrent writer's object")
	c := e.lyingClient(kr, opt)
	e.liar.On(isCopyTo(key+".instruction"), 0, func(req *http.Request, resp *http.Response) (*http.Response, error) {
		e.putRaw(key, theirs, map[string]string{"writer": "other"})
		return s3test.Status(http.StatusForbidden)(req, resp)
	})
	_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String(key), CopySource: aws.String(e.bucket + "/src")})
	if err == nil {
		t.Fatal("CopyObject succeeded without its instruction file")
	}
	got, _, rerr := e.raw(key)
	if rerr != nil || !bytes.Equal(got, theirs) {
		t.Fatalf("the clean-up of a failed CopyObject deleted a concurrent writer's object: %v (CopyObject: %v)", rerr, err)
	}
}
