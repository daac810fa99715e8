package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
)

func TestLargeFile(t *testing.T) {
	t.Setenv(exampleenv.EnvBucket, "") // always the in-process server
	var out bytes.Buffer
	// 20 MiB: three parts of 8 MiB, enough for a parallel multipart upload.
	if err := run(context.Background(), &out, 20<<20); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"upload 100% (20.0 MiB)",
		"uploaded 20.0 MiB in 3 parts:",
		"DownloadFile 100% (20.0 MiB)",
		"DownloadFile: 20.0 MiB, authenticated:",
		"large.bin: SHA-256 matches",
		"Download: 20.0 MiB, authenticated:",
		"large-copy.bin: SHA-256 matches",
		"MiB/s",
		"OK:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
