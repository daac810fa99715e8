package bulk

// manifest.json as a resource attack (an outside review; fixed).

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// Attack (whoever writes manifest.json): a files list of empty objects,
// `{}` three bytes each, under the 16 MiB bound. Each becomes a 40-byte
// struct of the decoded slice (and the slice doubles while it grows)
// before any entry is checked, so a 16 MiB manifest.json costs several
// hundred MiB of memory, the amplification the fileSchema bound was made
// against (TestAttackInventoryHugeFileSchema: 4x the document at most).
// None of the entries can be read anyway (no key, no size, no MD5):
// the document must be refused at a cost of a few times its size.
func TestAttackInventoryEmptyFileEntriesRefusedCheaply(t *testing.T) {
	const n = 1 << 18 // 768 KiB of entries; the 16 MiB bound allows 5.6 million
	text := `{"sourceBucket":"src","fileFormat":"CSV","fileSchema":"Bucket, Key","files":[` +
		strings.TrimSuffix(strings.Repeat("{},", n), ",") + `]}`
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadInventory(context.Background(), &memSource{}, text)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrManifest) {
		t.Fatalf("a manifest.json of %d empty file entries: %v, want a *ManifestError", n, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*uint64(len(text)) {
		t.Errorf("reading a %d-byte manifest.json allocated %d MiB (%.1fx its size) before refusing it",
			len(text), got>>20, float64(got)/float64(len(text)))
	}
}
