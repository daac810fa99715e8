// Package fipstest runs a test again, in a child process of the test
// binary, under a FIPS 140-3 GODEBUG setting (fips140=on or fips140=only),
// which only takes effect when a program starts. Such tests then run in a
// plain go test too.
package fipstest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

const envChild = "S3EC_FIPSTEST_CHILD"

// Under reports whether the calling top-level test runs in the child
// process, started with GODEBUG setting appended to the current GODEBUG;
// the test then does its checks. Otherwise Under runs the test in such a
// child, fails t if the child fails, and returns false: the caller returns.
// In a purego build, where the Go runtime refuses FIPS 140-3 mode, Under
// skips the test.
func Under(t *testing.T, setting string) bool {
	t.Helper()
	if os.Getenv(envChild) == t.Name() {
		return true
	}
	if purego {
		// The crypto/internal/fips140/check package panics at start-up.
		t.Skip("FIPS 140-3 mode cannot start in a purego build")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	godebug := setting
	var env []string
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "GODEBUG="):
			if old := strings.TrimPrefix(kv, "GODEBUG="); old != "" {
				godebug = old + "," + setting
			}
		case strings.HasPrefix(kv, envChild+"="):
		default:
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GODEBUG="+godebug, envChild+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s under GODEBUG=%s: %v\n%s", t.Name(), godebug, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run under GODEBUG=%s:\n%s", t.Name(), godebug, out)
	}
	t.Logf("passed under GODEBUG=%s", godebug)
	return false
}
