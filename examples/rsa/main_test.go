package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
)

func TestRSA(t *testing.T) {
	t.Setenv(exampleenv.EnvBucket, "") // always the in-process server
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"x-amz-w=22 (RSA-OAEP-SHA1)",
		`x-amz-m={"keypair":"ingest-2026"}`,
		"reading with the public key only fails (errors.Is ErrEncryptOnly)",
		`read with the private key: "sensor 17: 21.4 C, 48% RH\n"`,
		"OK:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
