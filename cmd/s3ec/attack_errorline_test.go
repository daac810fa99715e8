package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// libraryOption matches a library option or input field in a message:
// "Options.BufferSize", "encryptionclient.Options.X", "RewrapInput.Y".
var libraryOption = regexp.MustCompile(`\b[A-Za-z]*(Options|Input)\.[A-Z]|to allow it, set`)

// The library's ErrTooLarge of an object over the in-memory buffer names
// its options (Options.BufferSize, Options.SpoolLargeObjects,
// Options.EnableDelayedAuthentication) in two wordings, one for GCM
// objects and one for legacy CBC objects, which are never spooled: the
// command's line names neither option, only its flags, and does not say
// that 's3ec cp' authenticates a CBC object (it has no tag).
func TestAttackErrorLineTooLargeNamesNoLibraryOption(t *testing.T) {
	srv := s3test.Start(t)
	plain := srv.Client()
	bucket := srv.CreateBucket(t, plain)
	ctx := context.Background()
	get := func(c *encryptionclient.Client, k string) error {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(k)})
		if err == nil {
			out.Body.Close()
			t.Fatalf("GetObject %s succeeded", k)
		}
		if !errors.Is(err, encryptionclient.ErrTooLarge) {
			t.Fatalf("GetObject %s: %v, want ErrTooLarge", k, err)
		}
		return err
	}

	// A GCM object over the buffer, read without the spool.
	gcmKR, err := materials.NewAESKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	small, err := encryptionclient.New(plain, gcmKR, func(o *encryptionclient.Options) { o.BufferSize = 1024 })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("gcm"), Body: bytes.NewReader(make([]byte, 2000))}); err != nil {
		t.Fatal(err)
	}

	// A legacy CBC object (an AWS-written vector) over the buffer, with
	// the spool on: CBC objects are not spooled.
	vs, err := testvectors.Load(filepath.Join(testvectors.Dir(), "jce-raw-keyrings"))
	if err != nil {
		t.Fatal(err)
	}
	var v *testvectors.Vector
	for _, c := range vs {
		if c.Name == "jce-legacy-eo-cbc-aes-4096" {
			v = c
		}
	}
	if v == nil {
		t.Fatal("no vector jce-legacy-eo-cbc-aes-4096")
	}
	ct, err := v.Ciphertext()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("cbc"), Body: bytes.NewReader(ct), Metadata: v.Metadata}); err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(v.Keyring.KeyB64)
	if err != nil {
		t.Fatal(err)
	}
	cbcKR, err := materials.NewAESKeyring(key, func(o *materials.AESKeyringOptions) {
		o.EnableLegacyWrapping = true
		o.MaterialDescription = v.Keyring.MaterialDescription
	})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := encryptionclient.New(plain, cbcKR, func(o *encryptionclient.Options) {
		o.BufferSize, o.SpoolLargeObjects = 1024, true
		o.CommitmentPolicy = encryptionclient.RequireEncryptAllowDecrypt
		o.EnableLegacyUnauthenticatedModes = true
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		err       error
		want, not []string
	}{
		{"GCM without the spool", get(small, "gcm"), []string{"s3://" + bucket + "/gcm: ", "to authenticate in memory", "pass --stream", "'s3ec cp', which authenticates it first"}, nil},
		{"legacy CBC", get(legacy, "cbc"), []string{"s3://" + bucket + "/cbc: ", "to authenticate in memory", "pass --stream"}, []string{"authenticates it first", "spool"}},
	} {
		line := errorLine(tc.err)
		if m := libraryOption.FindString(line); m != "" {
			t.Errorf("%s: %q names a library option (%q)", tc.name, line, m)
		}
		for _, w := range tc.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q, want %q in it", tc.name, line, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(line, w) {
				t.Errorf("%s: %q, want no %q in it", tc.name, line, w)
			}
		}
	}
}
