package main

import (
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
)

// A bucket writer plants an object under a KMS key of their own that
// anyone may use. `s3ec rotate --kms-discovery --kms-allow A --to-kms-key
// B` must report it as a failure and leave it unreadable under B.
func TestRotateRefusesAttackerKMSKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	keyB := w.kms.CreateKey()
	keyX := w.kms.CreateKey(kmstest.WithAccount("444455556666"))
	ep := []string{"--kms-endpoint-url", w.kms.URL}
	w.writeFile("f", []byte("mine"))
	w.writeFile("evil", []byte("planted"))
	w.run(append([]string{"cp", "f", w.url("docs/good")}, w.kmsFlags()...)...).want(t, exitOK)
	w.run(append([]string{"cp", "evil", w.url("docs/x"), "--kms-key", keyX}, ep...)...).want(t, exitOK)

	r := w.run(append([]string{"rotate", w.url("docs/"), "--kms-discovery", "--kms-allow", w.kmsKey, "--to-kms-key", keyB}, ep...)...)
	if r.code == exitOK || !strings.Contains(r.stdout, "rotated 1,") || !strings.Contains(r.stdout, "failed 1") || !strings.Contains(r.stderr, "docs/x") {
		t.Fatalf("rotate with a planted object: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	cat := func(key string) result {
		return w.run(append([]string{"cat", w.url(key), "--kms-key", keyB}, ep...)...)
	}
	if r := cat("docs/good").want(t, exitOK); r.stdout != "mine" {
		t.Fatalf("own object after the rotation: %q", r.stdout)
	}
	if r := cat("docs/x"); r.code == exitOK {
		t.Fatalf("the planted object reads under the new key: %q", r.stdout)
	}
}
