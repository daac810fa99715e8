package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, []byte("hello, quickstart\n")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"x-amz-meta-x-amz-3:", "x-amz-meta-x-amz-c: 115", "x-amz-meta-x-amz-w: 02", "OK:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
