package encryptionclient_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// TestAttackForgedRefusalKeepsStoredObjectsInstructionFile: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// ReEncrypt into instruction-file storage, of a source whose envelope is
// in its metadata, writes the new instruction file first and the object
// after it; when the object's write is answered with a refusal (a 4xx),
// the instruction file goes again (instrFirst's undo), on the answer's word
// alone. A network that rewrites answers lets the write through to S3 and
// answers it with a 403: S3 stored the re-encrypted object over the
// source, whose envelope is now only in the instruction file, and the undo
// deletes that file. The object at the key, the only copy of the data in
// an unversioned bucket, never decrypts again. The sibling of
// TestAttackReEncryptFakedPutWithSourceETagKeepsInstructionFile (an answer
// alone proves nothing), the other way round: the undo must ask S3 first
// (the object at the key must not carry this call's binding id).
func TestAttackForgedRefusalKeepsStoredObjectsInstructionFile(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	key := "rv2/forged403"
	data := []byte("the only copy of this data")
	if err := e.put(e.client(kr), ctx, key, data); err != nil {
		t.Fatal(err)
	}
	rule := e.liar.On(isPutOf(key), 1, s3test.Status(http.StatusForbidden))
	_, err := e.lyingClient(kr, storeInstr).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(key), Force: true})
	if rule.Hits(e.liar) != 1 {
		t.Fatalf("the object's write was not answered by the liar; ReEncrypt: %v", err)
	}
	if err == nil {
		t.Fatal("ReEncrypt succeeded although its write was answered 403")
	}
	got, gerr := e.get(e.client(kr), ctx, key)
	if gerr != nil || !bytes.Equal(got, data) {
		_, meta, _ := e.raw(key)
		_, _, ierr := e.raw(key + ".instruction")
		t.Fatalf("after a forged refusal of a write S3 performed, %s no longer reads: %v (object metadata %v; instruction file: %v); ReEncrypt: %v", key, gerr, meta, ierr, err)
	}
}

// TestAttackRewrapForgedCopyRefusalKeepsMovedInstructionFile: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// The same in Rewrap, when the new envelope no longer fits the metadata
// and moves to an instruction file: the file is written first, then the
// object is copied in place without its envelope. A forged 403 to that
// copy, which S3 performed, has the clean-up (cleanupCreated: it checks
// that the file is this call's, not that the copy did not happen) delete
// the instruction file the object now depends on.
func TestAttackRewrapForgedCopyRefusalKeepsMovedInstructionFile(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	old := e.krs["aes"]
	key := "rv2/grow"
	if err := e.put(e.client(old), ctx, key, []byte("payload")); err != nil {
		t.Fatal(err)
	}
	big := mustAES(t, map[string]string{"note": strings.Repeat("n", 1900)})
	rule := e.liar.On(isCopyTo(key), 1, s3test.Status(http.StatusForbidden))
	out, err := e.lyingClient(old).Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String(key), Keyring: big})
	if rule.Hits(e.liar) != 1 {
		t.Fatalf("the in-place copy was not answered by the liar; Rewrap: %+v, %v", out, err)
	}
	if err == nil {
		t.Fatal("Rewrap succeeded although its copy was answered 403")
	}
	// Whatever S3 holds must read, under the old key or the new one.
	gotOld, errOld := e.get(e.client(old), ctx, key)
	gotNew, errNew := e.get(e.client(big), ctx, key)
	if !(errOld == nil && string(gotOld) == "payload") && !(errNew == nil && string(gotNew) == "payload") {
		_, _, ierr := e.raw(key + ".instruction")
		t.Fatalf("after a forged refusal of a copy S3 performed, %s reads under neither key: old %v, new %v (instruction file: %v); Rewrap: %v", key, errOld, errNew, ierr, err)
	}
}
