// Package archtest holds the test that keeps the library's layers as
// docs/ARCHITECTURE.md draws them: which of the module's packages each
// library package may import (outside its tests).
package archtest

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/s3ec/s3ec-go"

// allowed lists, for each library package (by its directory under the
// module root), the module's packages it may import. A package missing
// here fails the test: a new package states its place in the layers.
var allowed = map[string][]string{
	// S3 plumbing: requests, responses, placement, retries, clean-up. No
	// engine: every crypto decision is made below it.
	"encryptionclient": {"envelope", "materials", "internal/objectcrypto", "internal/engine/streamio", "internal/printable", "internal/listguard", "internal/answerlimit", "internal/testhooks"},
	// The job layer: manifests, operations over many objects, reports.
	// It adapts the client and reads envelopes only through it.
	"bulk": {"encryptionclient", "envelope", "materials", "internal/listguard"},
	// Keys: keyrings wrap and unwrap data keys.
	"materials":             {"envelope", "internal/fipsmode", "internal/answerlimit"},
	"materials/keyringtest": {"envelope", "materials"},
	// The format. It re-exports the engines' error values (one public
	// name per error class) and imports nothing else of them.
	"envelope": {"internal/engine/gcmstream", "internal/engine/cbcstream"},
	// The per-object core: the only package that joins keys, the
	// envelope and the engines.
	"internal/objectcrypto": {"envelope", "materials", "internal/engine/gcmstream", "internal/engine/cbcstream", "internal/engine/streamio"},
	// The engines.
	"internal/engine/gcmstream": {"internal/engine/streamio", "internal/fipsmode"},
	"internal/engine/cbcstream": {"internal/engine/streamio"},
	"internal/engine/streamio":  {},
	"internal/fipsmode":         {},
	"internal/testhooks":        {},
	// Text from outside made safe to print (keys in error messages).
	"internal/printable": {},
	// Loop detection of paginated listings (bulk, RotatePrefix).
	"internal/listguard": {},
	// The bound of S3 and KMS answer bodies below the SDK's deserializers
	// (encryptionclient, materials).
	"internal/answerlimit": {},
}

// Test kits: never imported by the library above, free to import it.
var testKits = []string{"internal/testkit", "internal/fipsmode/fipstest", "internal/archtest"}

func TestLibraryLayers(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		name := d.Name()
		if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		if rel != "." {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a nested module: not the library
			}
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files for this platform, or only tests
		}
		if kit(rel) || strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "examples/") {
			return nil
		}
		seen[rel] = true
		want, ok := allowed[rel]
		if !ok {
			t.Errorf("%s: a library package not in the layer table (internal/archtest); add it with the imports its layer allows", rel)
			return nil
		}
		for _, imp := range pkg.Imports {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			if !slices.Contains(want, dep) {
				t.Errorf("%s imports %s, which its layer does not allow (docs/ARCHITECTURE.md)", rel, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range allowed {
		if !seen[p] && p != "internal/testhooks" {
			t.Errorf("%s is in the layer table but not in the module", p)
		}
	}
}

func kit(rel string) bool {
	for _, k := range testKits {
		if rel == k || strings.HasPrefix(rel, k+"/") {
			return true
		}
	}
	return false
}
