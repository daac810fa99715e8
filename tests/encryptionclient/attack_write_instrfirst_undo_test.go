package encryptionclient_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// TestAttackInstrFirstUndoChecksAnsweredVersion: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// ReEncrypt (and Adopt) into instruction-file storage, of a source whose
// envelope is in its metadata, writes the new instruction file first
// (instrFirst) and deletes it again when the object's write is refused.
// That undo deletes by the version id the instruction file's PutObject
// answer named, unchecked: the sibling of the clean-ups fixed for
// TestAttackCleanupVersionFromAnswerIsTrusted, which now HEAD the version
// and delete it only when it carries this call's envelope.
//
// A network that rewrites answers names, in that answer, the version of
// KEY.instruction that an older version of KEY still needs (in a versioned
// bucket the older object version finds its instruction file among the
// file's versions, by its binding id), and refuses the object's write (a
// 412, here caused by a concurrent writer). The undo then destroys that
// older instruction file: the older object version never decrypts again.
// (Here S3 really refuses the object's write: a concurrent writer changed
// the object after ReEncrypt's GET, so its If-Match write gets a 412.)
func TestAttackInstrFirstUndoChecksAnsweredVersion(t *testing.T) {
	e := newLiarEnv(t)
	e.enableVersioning()
	ctx := context.Background()
	kr := e.krs["aes"]
	key := "rv2/doc"
	instrKey := key + ".instruction"

	// v1: envelope in an instruction file.
	oldData := []byte("last year's data, readable only with its instruction file")
	v1, err := e.client(kr, storeInstr).PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(oldData)})
	if err != nil || aws.ToString(v1.VersionId) == "" {
		t.Fatalf("put v1: %v (version %q)", err, aws.ToString(v1.VersionId))
	}
	ih, err := e.plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(instrKey)})
	if err != nil || aws.ToString(ih.VersionId) == "" {
		t.Fatalf("head v1's instruction file: %v", err)
	}
	instrV1 := aws.ToString(ih.VersionId)

	// v2: envelope in metadata; the current instruction file is deleted
	// (a delete marker: v1's file stays as a noncurrent version).
	if err := e.put(e.client(kr), ctx, key, []byte("this year's data")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.plain.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(instrKey)}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.getVersion(e.client(kr), key, aws.ToString(v1.VersionId)); err != nil || got != string(oldData) {
		t.Fatalf("set-up: v1 does not read: %q, %v", got, err)
	}

	// ReEncrypt v2 into instruction-file storage through the liar.
	c := e.lyingClient(kr, storeInstr)
	// The answer to the new instruction file's PutObject names v1's
	// instruction file; meanwhile a concurrent writer stores its object at
	// the key, so that S3 itself refuses ReEncrypt's conditional write
	// (412) and the undo runs.
	instrRule := e.liar.On(isPutOf(instrKey), 1, func(req *http.Request, resp *http.Response) (*http.Response, error) {
		e.putRaw(key, []byte("a concurrent writer's object"), map[string]string{"writer": "other"})
		return s3test.SetHeader("X-Amz-Version-Id", instrV1)(req, resp)
	})
	_, err = c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(key), Force: true})
	if err == nil {
		t.Fatal("ReEncrypt succeeded although its object write was refused")
	}
	if instrRule.Hits(e.liar) != 1 {
		t.Fatalf("the instruction file was not written first (%d hits); ReEncrypt: %v", instrRule.Hits(e.liar), err)
	}

	if _, herr := e.plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(instrKey), VersionId: aws.String(instrV1)}); herr != nil {
		t.Errorf("the undo of the refused write deleted version %s of %s, which this call did not write (its answer said so): %v", instrV1, instrKey, herr)
	}
	if got, gerr := e.getVersion(e.client(kr), key, aws.ToString(v1.VersionId)); gerr != nil || got != string(oldData) {
		t.Errorf("version %s of %s no longer reads: %v (ReEncrypt: %v)", aws.ToString(v1.VersionId), key, gerr, err)
	}
}
