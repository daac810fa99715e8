package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// envKMSEndpoint names another KMS implementation (e.g. local-kms, started
// by scripts/integration.sh local-kms) for the "kms" keyring of the suite
// and for the TestKMSPeer tests, which administer it through the KMS API
// only. Its region is S3EC_TEST_KMS_REGION (default us-east-1); the
// credentials are static test ones. Tests that need what only the KMS test
// server does (faults, lying answers, keys of other accounts, key
// rotation by hand) skip, as with AWS KMS. See docs/KMS-SERVERS.md.
const (
	envKMSEndpoint = "S3EC_TEST_KMS_ENDPOINT"
	envKMSRegion   = "S3EC_TEST_KMS_REGION"
)

// peerKMSClient returns a client of the KMS at S3EC_TEST_KMS_ENDPOINT, or
// nil when it is not set. Its connections are closed when t ends (the
// suite checks for leaked goroutines).
func peerKMSClient(t *testing.T) *kms.Client {
	ep := os.Getenv(envKMSEndpoint)
	if ep == "" {
		return nil
	}
	region := os.Getenv(envKMSRegion)
	if region == "" {
		region = "us-east-1"
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return kms.New(kms.Options{
		BaseEndpoint: aws.String(ep),
		Region:       region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDPEERTEST", SecretAccessKey: "peer-test-secret", Source: "peer"}, nil
		}),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: tr},
	})
}

// peerCreateKey creates a symmetric key with the KMS API and returns its
// ARN.
func peerCreateKey(t *testing.T, c *kms.Client) string {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("s3ec-go peer test")})
	if err != nil {
		t.Fatalf("CreateKey on %s: %v", os.Getenv(envKMSEndpoint), err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// peerKMS is the KMS of the TestKMSPeer tests: the one at
// S3EC_TEST_KMS_ENDPOINT, else a KMS test server (driven through the same
// API).
func peerKMS(t *testing.T) *kms.Client {
	if c := peerKMSClient(t); c != nil {
		return c
	}
	return kmstest.New(t).Client()
}

// TestKMSPeerRewrapAndRotate: objects move from one KMS key to another with
// ReEncrypt (Rewrap, RotatePrefix), keep their context, and stop opening
// under the old key; a keyring that names an alias follows its moves.
func TestKMSPeerRewrapAndRotate(t *testing.T) {
	e := newEnv(t)
	c := peerKMS(t)
	ctx := context.Background()
	arnA, arnB := peerCreateKey(t, c), peerCreateKey(t, c)
	krA, err := materials.NewKMSKeyring(c, arnA)
	if err != nil {
		t.Fatal(err)
	}
	krB, err := materials.NewKMSKeyring(c, arnB)
	if err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"tenant": "peer"}
	ectx := encryptionclient.WithEncryptionContext(ctx, ec)
	clientA, clientB := e.client(krA), e.client(krB)
	data := map[string][]byte{}
	for i, n := range []int{0, 17, 70000} {
		key := fmt.Sprintf("peer/obj-%d", i)
		data[key] = randBytes(t, n)
		if err := e.put(clientA, ectx, key, data[key]); err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
	}

	// Rewrap one object A -> B with ReEncrypt.
	out, err := clientA.Rewrap(ectx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("peer/obj-1"), Keyring: krB})
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if out.SourceKeyID != arnA || out.KeyID != arnB {
		t.Fatalf("Rewrap reported %s -> %s, want %s -> %s", out.SourceKeyID, out.KeyID, arnA, arnB)
	}
	if got, err := e.get(clientB, ectx, "peer/obj-1"); err != nil || !bytes.Equal(got, data["peer/obj-1"]) {
		t.Fatalf("reading the re-wrapped object with B: %v", err)
	}
	if _, err := e.get(clientA, ectx, "peer/obj-1"); !errors.Is(err, encryptionclient.ErrUnwrap) {
		t.Fatalf("reading the re-wrapped object with A: %v, want ErrUnwrap", err)
	}
	if _, err := e.get(clientB, encryptionclient.WithEncryptionContext(ctx, map[string]string{"tenant": "other"}), "peer/obj-1"); !errors.Is(err, encryptionclient.ErrContextMismatch) {
		t.Fatalf("reading with another context: %v, want ErrContextMismatch", err)
	}
	// Again A -> B: A no longer reads it, so nothing is re-wrapped.
	if _, err := clientA.Rewrap(ectx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("peer/obj-1"), Keyring: krB}); err == nil {
		t.Fatal("Rewrap of an object the client's key no longer opens succeeded")
	}

	// Rotate the rest of the prefix.
	rot, err := e.client(krA, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }).RotatePrefix(ectx, &encryptionclient.RotatePrefixInput{
		Bucket: &e.bucket, Prefix: aws.String("peer/"), Keyring: krB,
	})
	if err != nil {
		t.Fatalf("RotatePrefix: %v", err)
	}
	if rot.Rotated != 2 || rot.Failed != 0 {
		t.Fatalf("RotatePrefix: %+v, want 2 rotated (one already on B), none failed", rot.RotateCounts)
	}
	for key, want := range data {
		if got, err := e.get(clientB, ectx, key); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("reading %s with B after the rotation: %v", key, err)
		}
	}

	// A keyring that names an alias follows its move.
	alias := "alias/s3ec-peer-" + arnA[len(arnA)-12:]
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(arnA)}); err != nil {
		t.Fatal(err)
	}
	byAlias, err := materials.NewKMSKeyring(c, alias)
	if err != nil {
		t.Fatal(err)
	}
	ca := e.client(byAlias)
	if err := e.put(ca, ectx, "alias/obj", data["peer/obj-1"]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(arnB)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.get(ca, ectx, "alias/obj"); !errors.Is(err, encryptionclient.ErrUnwrap) {
		t.Fatalf("reading an object of the alias's old key by the moved alias: %v, want ErrUnwrap", err)
	}
	if got, err := e.get(clientA, ectx, "alias/obj"); err != nil || !bytes.Equal(got, data["peer/obj-1"]) {
		t.Fatalf("reading it by the key ARN: %v", err)
	}
}
