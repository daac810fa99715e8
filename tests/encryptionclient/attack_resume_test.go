package encryptionclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
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

// forgerS3 is the S3 a token forger's own Client talks to: it answers
// CreateMultipartUpload with the victim's upload id, so that the forger's
// ResumeToken names the victim's upload.
type forgerS3 struct {
	*s3.Client
	id string
}

func (f forgerS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return &s3.CreateMultipartUploadOutput{Bucket: in.Bucket, Key: in.Key, UploadId: aws.String(f.id)}, nil
}

// A token is authenticated under its own data key, so whoever can wrap a
// data key for the keyring (here the RSA public key, which writers hold)
// can forge a whole token for another's upload, under a data key the
// forger knows. What keeps the victim's plaintext from being encrypted
// under it: Upload refuses a token that does not record every part S3
// holds (the forger cannot compute the sums of a plaintext he does not
// know), before anything is sent; the genuine token still completes.
func TestAttackResumeForgedTokenRefusedWhenPartsHeld(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["rsa"]
	data := e.resumeData()
	tok, id := e.interruptedUpload(e.client(kr), "forged", data, 2)

	pubOnly, err := materials.NewRSAKeyring(&rsaKey.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := encryptionclient.New(forgerS3{Client: e.plain, id: id}, pubOnly)
	if err != nil {
		t.Fatal(err)
	}
	ctx := encryptionclient.WithPartSize(e.uploadCtx(context.Background()), e.testPartSize())
	if _, err := forger.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("forged")}); err != nil {
		t.Fatal(err)
	}
	forged, err := forger.ResumeToken(e.bucket, "forged", id)
	if err != nil {
		t.Fatal(err)
	}

	liar := &s3test.Liar{}
	victim, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.resume(victim, "forged", data, forged)
	var re *encryptionclient.ResumeError
	if !errors.As(err, &re) || !errors.Is(err, encryptionclient.ErrResumeMismatch) || re.UploadID != id {
		t.Fatalf("a forged token over an upload with parts on S3: %v, want a *ResumeError for ErrResumeMismatch", err)
	}
	if n := uploadParts(liar.Requests()); n != 0 {
		t.Fatalf("%d parts sent under the forged token", n)
	}
	if _, err := e.resume(e.client(kr), "forged", data, tok); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(e.client(kr), kr, "forged", data)
}
