package encryptionclient_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// Rewrap re-wraps only the instruction file that belongs to the object:
// one that another write of the key left behind (its binding id differs)
// is refused and nothing is written.
func TestRewrapRefusesInstructionFileOfAnotherWrite(t *testing.T) {
	e := newEnv(t)
	opt := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
	c := e.client(e.krs["aes"], opt)
	for _, k := range []string{"a", "b"} {
		if err := e.put(c, context.Background(), k, []byte("content of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	// b's instruction file (with its metadata, so its binding) over a's.
	if _, err := e.plain.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: &e.bucket, Key: aws.String("a.instruction"), CopySource: aws.String(e.bucket + "/b.instruction"),
	}); err != nil {
		t.Fatal(err)
	}
	before, _, err := e.raw("a.instruction")
	if err != nil {
		t.Fatal(err)
	}
	h := newHook(e)
	_, err = e.hclient(h, e.krs["aes"], opt).Rewrap(context.Background(), &encryptionclient.RewrapInput{
		Bucket: &e.bucket, Key: aws.String("a"), Keyring: mustAES(t, map[string]string{"gen": "2"}),
	})
	mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
	if n := h.n("PutObject") + h.n("CopyObject"); n != 0 {
		t.Fatalf("the refused re-wrap wrote %d objects", n)
	}
	after, _, err := e.raw("a.instruction")
	if err != nil || string(after) != string(before) {
		t.Fatalf("the instruction file changed: %v", err)
	}
}

// An envelope that grows out of the metadata moves into an instruction
// file bound to the object, like one PutObject writes: both carry the same
// binding id, so the version stays readable after the key is overwritten.
func TestRewrapMovedEnvelopeIsBound(t *testing.T) {
	e := newEnv(t)
	old := e.krs["aes"]
	if err := e.put(e.client(old), context.Background(), "grow", []byte("payload")); err != nil {
		t.Fatal(err)
	}
	big := mustAES(t, map[string]string{"note": strings.Repeat("n", 1900)})
	out, err := e.client(old).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("grow"), Keyring: big})
	if err != nil {
		t.Fatal(err)
	}
	if !out.MovedToInstructionFile {
		t.Fatalf("the envelope stayed in the metadata: %+v", out)
	}
	objID := e.head("grow").Metadata["s3ec-instruction-id"]
	instrID := e.head("grow.instruction").Metadata["s3ec-instruction-id"]
	if objID == "" || objID != instrID {
		t.Fatalf("binding ids: object %q, instruction file %q", objID, instrID)
	}
	if got, err := e.get(e.client(big), context.Background(), "grow"); err != nil || string(got) != "payload" {
		t.Fatalf("read after the move: %q, %v", got, err)
	}
}
