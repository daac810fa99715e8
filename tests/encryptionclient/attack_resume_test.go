package encryptionclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// Resuming encrypts: the token's envelope must be one this Client would
// write, not only one it may read. A token whose content suite is not the
// one the commitment policy writes (a V2, non-committing upload taken up
// by a Client that requires committing encryption, or the reverse), made
// by a process with another policy or planted by whoever can write the
// token file and wrap a key for the keyring, is refused with ErrPolicy
// before any request, by Upload and by ResumeMultipartUpload alike.
func TestAttackResumeTokenSuiteOutsideEncryptPolicy(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	policy := func(p encryptionclient.CommitmentPolicy) func(*encryptionclient.Options) {
		return func(o *encryptionclient.Options) { o.CommitmentPolicy = p }
	}
	for _, tc := range []struct {
		name          string
		writer, taker encryptionclient.CommitmentPolicy
	}{
		{"V2 token, committing writer", encryptionclient.ForbidEncryptAllowDecrypt, encryptionclient.RequireEncryptAllowDecrypt},
		{"V3 token, V2 writer", encryptionclient.RequireEncryptAllowDecrypt, encryptionclient.ForbidEncryptAllowDecrypt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := e.resumeData()
			key := "policy-" + tc.writer.String()
			tok, id := e.interruptedUpload(e.client(kr, policy(tc.writer)), key, data, 2)

			liar := &s3test.Liar{}
			c, err := encryptionclient.New(e.srv.LiarClient(liar), kr, policy(tc.taker))
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.resume(c, key, data, tok)
			var re *encryptionclient.ResumeError
			if !errors.As(err, &re) || !errors.Is(err, encryptionclient.ErrPolicy) || re.UploadID != id {
				t.Fatalf("Upload resumed across policies: %v, want a *ResumeError for ErrPolicy naming upload %s", err, id)
			}
			ctx := encryptionclient.WithPartSize(e.uploadCtx(context.Background()), e.testPartSize())
			_, err = c.ResumeMultipartUpload(ctx, &encryptionclient.ResumeMultipartUploadInput{Token: tok})
			if !errors.As(err, &re) || !errors.Is(err, encryptionclient.ErrPolicy) {
				t.Fatalf("ResumeMultipartUpload across policies: %v, want a *ResumeError for ErrPolicy", err)
			}
			if n := len(liar.Requests()); n != 0 {
				t.Fatalf("%d requests sent: %v", n, liar.Requests())
			}
			// The upload is still the writer's to resume.
			if _, err := e.resume(e.client(kr, policy(tc.writer)), key, data, tok); err != nil {
				t.Fatal(err)
			}
			e.mustStoreExactly(e.client(kr, policy(tc.writer)), kr, key, data)
		})
	}
}
