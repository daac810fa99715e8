package encryptionclient_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// Deleting an object removes its instruction file, never an object of its
// own whose name ends in the suffix: an encrypted object with its envelope
// in its metadata, or an unencrypted one without the instruction-file mark,
// stored beside an object that keeps its envelope in its metadata or
// beside an unencrypted one.
func TestDeleteKeepsObjectsNamedLikeInstructionFiles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	meta := e.client(e.krs["aes"])
	split := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	for _, del := range []string{"DeleteObject", "DeleteObjects"} {
		t.Run(del, func(t *testing.T) {
			p := del + "/"
			// An encrypted object and an encrypted namesake.
			for _, k := range []string{p + "a", p + "a.instruction"} {
				if err := e.put(meta, ctx, k, []byte("data of "+k)); err != nil {
					t.Fatal(err)
				}
			}
			// An object with an instruction file; a namesake of it is its
			// instruction file and must go.
			if err := e.put(split, ctx, p+"b", []byte("split")); err != nil {
				t.Fatal(err)
			}
			// An unencrypted object and an unmarked unencrypted namesake.
			e.putRaw(p+"c", []byte("plain"), nil)
			e.putRaw(p+"c.instruction", []byte(`{"not":"an instruction file"}`), nil)

			keys := []string{p + "a", p + "b", p + "c"}
			if del == "DeleteObject" {
				for _, k := range keys {
					if _, err := meta.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(k)}); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				var ids []types.ObjectIdentifier
				for _, k := range keys {
					ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
				}
				if _, err := meta.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: ids}}); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range keys {
				if e.exists(k) {
					t.Errorf("%s was not deleted", k)
				}
			}
			if e.exists(p + "b.instruction") {
				t.Error("the instruction file of b was left behind")
			}
			if got, err := e.get(meta, ctx, p+"a.instruction"); err != nil || string(got) != "data of "+p+"a.instruction" {
				t.Errorf("the encrypted object a.instruction was deleted with a: %q, %v", got, err)
			}
			if !e.exists(p + "c.instruction") {
				t.Error("the unencrypted object c.instruction was deleted with c")
			}
		})
	}
}
