package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
)

func TestRangedRead(t *testing.T) {
	t.Setenv(exampleenv.EnvBucket, "") // always the in-process server
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"range with the default options: ErrPolicy",
		`bytes=64-95  -> Content-Range bytes 64-95/2048: "account 0003 balance     300.00\n"`,
		`bytes=2016-  -> Content-Range bytes 2016-2047/2048: "account 0064 balance    6400.00\n"`,
		`bytes=-64    -> Content-Range bytes 1984-2047/2048: "account 0063`,
		`after tampering, the range reads "account 0003 balance     900.00\n" with no error`,
		"the whole-object read detects it: ErrAuthentication",
		"OK:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
