package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
)

func TestAWSInterop(t *testing.T) {
	t.Setenv(exampleenv.EnvBucket, "") // always the in-process server
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"format v2, wrap kms+context, metadata x-amz-cek-alg x-amz-iv x-amz-key-v2",
		"format v3, wrap kms+context, metadata x-amz-3 x-amz-c x-amz-d x-amz-i",
		"format v3, wrap RSA-OAEP-SHA1",
		"read 4096 bytes, SHA-256 f62a21f99f87ce45... matches",
		"read 4096 bytes, SHA-256 74ac3c34c0294d4f... matches",
		"read 4096 bytes, SHA-256 5329eed441743551... matches",
		"OK: read 3 objects",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
