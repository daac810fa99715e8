package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
)

func TestEncryptionContext(t *testing.T) {
	// The test always uses the in-process servers.
	t.Setenv(exampleenv.EnvBucket, "")
	t.Setenv(exampleenv.EnvKMSKeyID, "")
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`stored x-amz-t: {"aws:x-amz-cek-alg":"115","purpose":"invoice","tenant":"acme"}`,
		`read with the same context: {"invoice":"2026-0042"`,
		"read with another context map[purpose:invoice tenant:globex]: ErrContextMismatch",
		"read with no context: ErrContextMismatch",
		"KMS Decrypt calls so far: 1 (the refused reads made none)",
		"read as globex: ErrUnwrap (KMS refused)",
		"OK:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
