package encryptionclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// VerifyObject reads whole objects without releasing plaintext: intact
// V3 and V2 objects verify (also beyond Options.BufferSize, which a
// streaming verification does not need), a flipped byte anywhere fails
// authentication, a wrong context fails as on a read, and legacy CBC
// reports Authenticated false.
func TestVerifyObject(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	small := func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
		o.BufferSize = 1 << 20
	}
	c := e.client(kr, small)
	for _, tc := range []struct {
		name string
		n    int
		w    func(*encryptionclient.Options)
	}{{"v3", 1000, func(*encryptionclient.Options) {}}, {"v3-big", 3<<20 + 5, func(*encryptionclient.Options) {}}, {"v2", 500, writeV2}} {
		if err := e.put(e.client(kr, tc.w), context.Background(), tc.name, randBytes(t, tc.n)); err != nil {
			t.Fatal(err)
		}
		out, err := c.VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(tc.name)})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !out.Authenticated || out.Size != int64(tc.n) || out.ETag == nil {
			t.Fatalf("%s: %+v", tc.name, out)
		}
		if tc.name == "v2" && (out.Format != envelope.FormatV2 || out.Suite != envelope.SuiteAESGCM) {
			t.Fatalf("%s: %v %v", tc.name, out.Format, out.Suite)
		}
		for _, at := range []int{0, tc.n / 2, tc.n + 3} {
			e.tamper(tc.name, at)
			_, err := c.VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(tc.name)})
			mustErrorIs(t, err, encryptionclient.ErrAuthentication)
			e.tamper(tc.name, at) // flip back
		}
		if _, err := c.VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(tc.name)}); err != nil {
			t.Fatalf("%s restored: %v", tc.name, err)
		}
	}
	// The context is checked as GetObject checks it.
	ctx := encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"k": "v"})
	if err := e.put(e.client(kr), ctx, "ctx", []byte("c")); err != nil {
		t.Fatal(err)
	}
	_, err := c.VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("ctx")})
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
	if _, err := c.VerifyObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("ctx")}); err != nil {
		t.Fatal(err)
	}
	// A V3-only client refuses V2 as a read would.
	_, err = e.client(kr).VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("v2")})
	mustErrorIs(t, err, encryptionclient.ErrPolicy)
	// An unencrypted object.
	e.putRaw("plain", []byte("p"), nil)
	_, err = c.VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("plain")})
	mustErrorIs(t, err, encryptionclient.ErrNotEncrypted)
	var oe *encryptionclient.ObjectError
	if !errors.As(err, &oe) || oe.Op != "VerifyObject" {
		t.Fatalf("%v is not an ObjectError of VerifyObject", err)
	}
}

// Legacy CBC has no tag: decryption, padding and recorded length are
// checked, and the output says it was not authenticated.
func TestVerifyObjectLegacyCBC(t *testing.T) {
	e := newEnv(t)
	pt := randBytes(t, 1000)
	kr, ct, meta := putBuiltCBC(t, e, "cbc", pt, true)
	c := e.client(kr, legacyOpts)
	out, err := c.VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("cbc")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Authenticated || out.Suite != envelope.SuiteAESCBC || out.Size != 1000 {
		t.Fatalf("%+v", out)
	}
	// Without the legacy opt-in it is refused.
	_, err = e.client(kr, allowV2).VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("cbc")})
	mustErrorIs(t, err, encryptionclient.ErrPolicy)
	// Cut at a block boundary: the recorded length catches it.
	e.putRaw("cbc", ct[:len(ct)-16], meta)
	if _, err := c.VerifyObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("cbc")}); err == nil {
		t.Fatal("a cut CBC object verified")
	}
}
