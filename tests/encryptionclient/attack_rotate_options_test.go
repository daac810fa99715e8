package encryptionclient_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// TestAttackRotatePrefixBadPartOptions: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// TestAttackRotatePrefixBadPartOptions: RotatePrefix checks its
// own Concurrency, but hands MultipartThreshold and PartSize on to every
// object's Rewrap unchecked. An out-of-range value (PartSize -1 or 1 KiB,
// MultipartThreshold -1 or over 5 GiB, which a lone Rewrap refuses with
// ErrInvalidInput before any request) is therefore not refused: the whole
// bucket is listed, every object is reported RotateFailed, one by one,
// ResumeAfter moves past all of them, and RotatePrefix returns a nil
// error ("every object was visited"). Bad input must be ErrInvalidInput
// from RotatePrefix itself, before the listing.
func TestAttackRotatePrefixBadPartOptions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(e.krs["aes"])
	for i := range 3 {
		if err := e.put(c, ctx, fmt.Sprintf("r6/obj%d", i), randBytes(t, 100)); err != nil {
			t.Fatal(err)
		}
	}
	for name, set := range map[string]func(*encryptionclient.RotatePrefixInput){
		"PartSize -1":              func(in *encryptionclient.RotatePrefixInput) { in.PartSize = -1 },
		"PartSize 1024":            func(in *encryptionclient.RotatePrefixInput) { in.PartSize = 1024 },
		"MultipartThreshold -1":    func(in *encryptionclient.RotatePrefixInput) { in.MultipartThreshold = -1 },
		"MultipartThreshold 6 GiB": func(in *encryptionclient.RotatePrefixInput) { in.MultipartThreshold = 6 << 30 },
	} {
		t.Run(name, func(t *testing.T) {
			in := &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("r6/"), Keyring: e.krs["rsa"], DryRun: true}
			set(in)
			// The same value given to Rewrap is refused up front.
			_, rwErr := c.Rewrap(ctx, &encryptionclient.RewrapInput{
				Bucket: &e.bucket, Key: aws.String("r6/obj0"), Keyring: in.Keyring, DryRun: true,
				PartSize: in.PartSize, MultipartThreshold: in.MultipartThreshold,
			})
			if !errors.Is(rwErr, encryptionclient.ErrInvalidInput) {
				t.Fatalf("Rewrap: %v, want ErrInvalidInput (the premise)", rwErr)
			}
			out, err := c.RotatePrefix(ctx, in)
			if !errors.Is(err, encryptionclient.ErrInvalidInput) {
				failed := int64(-1)
				if out != nil {
					failed = out.Failed
				}
				t.Fatalf("RotatePrefix with %s: error %v (%d objects failed one by one), want ErrInvalidInput before any object", name, err, failed)
			}
		})
	}
}
