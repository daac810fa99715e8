package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
)

func TestInstructionFile(t *testing.T) {
	t.Setenv(exampleenv.EnvBucket, "") // always the in-process server
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"x-amz-meta-x-amz-c: 115",
		"x-amz-meta-x-amz-d: ",
		"x-amz-meta-x-amz-i: ",
		"s3://s3ec-example/archive/minutes.txt.instruction:",
		`"x-amz-w":"02"`,
		`"x-amz-m":"{\"key\":\"archive-2026\"}"`,
		"read through the client: 44 bytes (HeadObject says 44)",
		"the object and its instruction file are gone",
		"OK:",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// The wrapped key is in the instruction file, not on the object.
	if strings.Contains(s, "x-amz-meta-x-amz-3") {
		t.Errorf("the object's metadata holds the wrapped key:\n%s", s)
	}
}
