package main

import (
	"bytes"
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, "", "", []byte("hello, quickstart\n")); err != nil {
		t.Fatal(err)
	}
	// Each envelope entry is printed with its meaning, named as the
	// envelope package names the suite and the wrap algorithm.
	for _, want := range []string{
		"envelope (V3 format), in the object's metadata:",
		"x-amz-meta-" + envelope.KeyV3WrappedKey + ":",
		"the data key, wrapped (",
		fmt.Sprintf("x-amz-meta-%s: %d\n        content suite %s: AES-256-GCM, commits to its data key", envelope.KeyV3Content, uint16(envelope.SuiteAESGCMCommitting), envelope.SuiteAESGCMCommitting),
		"x-amz-meta-" + envelope.KeyV3Wrap + ": 02\n        wrap algorithm " + string(envelope.WrapAESGCM) + ":",
		"x-amz-meta-" + envelope.KeyV3Commitment + ":",
		"key commitment (28 bytes)",
		"message id (28 bytes)",
		"material description map[key:quickstart-2026]",
		"OK:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestQuickstartCopyable: quickstart.go, the part meant to be copied into
// another module, imports no internal package.
func TestQuickstartCopyable(t *testing.T) {
	src, err := os.ReadFile("quickstart.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "quickstart.go", src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if strings.Contains(path, "/internal/") || strings.HasSuffix(path, "/internal") {
			t.Errorf("quickstart.go imports %s, which another module cannot", path)
		}
	}
}
