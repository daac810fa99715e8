package encryptionclient_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// TestAttackReEncryptOldInstructionFileDeleteConditional: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// ReEncrypt of a source whose envelope is in its instruction file, into
// metadata storage, deletes the old instruction file once the new object
// is stored: "only while the object is still the one just written and the
// instruction file still the one read, so that the instruction file of a
// writer who replaced both meanwhile is left alone" (deleteOldInstructionFile).
// The check is two HEADs, and the DELETE that follows them carries no
// condition, unlike DeleteObject's, which is conditional on the ETag the
// file had when it was told (If-Match). A writer that stores its object
// (envelope in an instruction file) after those HEADs has its fresh
// instruction file deleted: its object, reported stored, never decrypts.
func TestAttackReEncryptOldInstructionFileDeleteConditional(t *testing.T) {
	e := newLiarEnv(t)
	e.srv.SkipUnlessConditionalDeletes(t, e.plain, e.bucket)
	ctx := context.Background()
	kr := e.krs["aes"]
	key := "rv2/reenc"
	instrKey := key + ".instruction"
	if err := e.put(e.client(kr, storeInstr), ctx, key, []byte("old content")); err != nil {
		t.Fatal(err)
	}

	theirs := []byte("a concurrent writer's object, stored and reported stored")
	var objectWritten, wrote atomic.Bool
	var writerErr error
	// Note the re-encrypted object's write, then, at the HEAD of the old
	// instruction file that follows it (deleteOldInstructionFile's check),
	// let the other writer store its object with its instruction file.
	e.liar.On(func(req *http.Request) bool {
		if req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/"+key) {
			objectWritten.Store(true)
		}
		return false
	}, 0)
	e.liar.On(func(req *http.Request) bool {
		return req.Method == http.MethodHead && strings.HasSuffix(req.URL.Path, "/"+instrKey) && objectWritten.Load()
	}, 1, func(req *http.Request, resp *http.Response) (*http.Response, error) {
		if !wrote.Swap(true) {
			_, writerErr = e.client(kr, storeInstr).PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(theirs)})
		}
		return resp, nil
	})

	_, err := e.lyingClient(kr).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(key), Force: true})
	if !wrote.Load() || writerErr != nil {
		t.Fatalf("the concurrent write did not happen where intended (wrote %v: %v); ReEncrypt: %v", wrote.Load(), writerErr, err)
	}
	got, gerr := e.get(e.client(kr), ctx, key)
	if gerr != nil || !bytes.Equal(got, theirs) {
		_, _, ierr := e.raw(instrKey)
		t.Fatalf("the concurrent writer's object no longer reads: %v (its instruction file: %v); ReEncrypt: %v", gerr, ierr, err)
	}
}
