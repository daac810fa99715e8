package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
)

func TestKMS(t *testing.T) {
	// The test always uses the in-process servers.
	t.Setenv(exampleenv.EnvBucket, "")
	t.Setenv(exampleenv.EnvKMSKeyID, "")
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"S3: in-process test server",
		"KMS: in-process test server",
		"x-amz-meta-x-amz-w: 12",
		`encryption context bound by KMS (x-amz-t): {"aws:x-amz-cek-alg":"115"}`,
		"read with the KMS keyring: 36 bytes",
		"read with the discovery keyring: 36 bytes",
		"ErrDecryptOnly",
		"KMS calls: GenerateDataKey 1, Decrypt 2",
		"OK:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
