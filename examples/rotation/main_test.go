package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
)

func TestRotation(t *testing.T) {
	t.Setenv(exampleenv.EnvBucket, "") // always the in-process server
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`wrap AES/GCM -> AES/GCM, material description now {"key":"2026"}`,
		"read with the old key: ErrUnwrap",
		`read with the new key: "Contract with ACME Corp.`,
		"reports/q1.txt       rotated",
		"reports/README       skipped (not encrypted)",
		"reports/summary.txt  skipped (already on the new key)",
		"rotated 4, skipped 2 (1 already on the new key, 1 not encrypted), failed 0",
		"rotated 0, skipped 6 (5 already on the new key, 1 not encrypted), failed 0",
		"OK:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
