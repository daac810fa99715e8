package bulk

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
)

// gzipStored compresses text without compression, so that two texts of
// one length give files of one length.
func gzipStored(t *testing.T, text string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(zw, text)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// recordingOp records the tasks it was run on and does nothing.
type recordingOp struct {
	mu   sync.Mutex
	keys []string
}

func (*recordingOp) Name() string { return "adopt" }

func (o *recordingOp) Do(_ context.Context, t Task) Result {
	o.mu.Lock()
	o.keys = append(o.keys, t.Key)
	o.mu.Unlock()
	return done(t, "adopted", false, "")
}

// Attack: whoever can write an inventory's data files but not its
// manifest.json (the party TestAttackInventoryDataFileWithoutChecksum
// names: "picks the objects of the job") replaces a data file by one of
// the same size listing objects of their choice. The MD5 that
// manifest.json records was compared only once the file had been read to
// its end, after its rows were handed out: Run had already run the
// operation (adopt: encrypt in place; reencrypt, rewrap) on the forged
// rows when the *ChecksumError stopped the job. No row of a data file may
// become a task before the file's MD5 and size are checked, and no
// temporary copy of it is left behind.
func TestAttackInventoryForgedDataFileRunsNothing(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	honest := gzipStored(t, "src,listed-object-1\nsrc,listed-object-2\n")
	forged := gzipStored(t, "src,listed-object-1\nsrc,victim-payrol.c\n")
	if len(honest) != len(forged) {
		t.Fatalf("test setup: %d and %d bytes", len(honest), len(forged))
	}
	sum := md5.Sum(honest)
	doc, err := json.Marshal(map[string]any{
		"sourceBucket": "src", "destinationBucket": "arn:aws:s3:::inv", "fileFormat": "CSV", "fileSchema": "Bucket, Key",
		"files": []any{map[string]any{"key": "data/one.csv.gz", "size": len(honest), "MD5checksum": hex.EncodeToString(sum[:])}},
	})
	if err != nil {
		t.Fatal(err)
	}
	src := &memSource{files: map[string][]byte{"inv/data/one.csv.gz": forged}}
	m, err := ReadInventory(context.Background(), src, string(doc))
	if err != nil {
		t.Fatal(err)
	}
	op := &recordingOp{}
	_, runErr := Run(context.Background(), m, op, RunOptions{Concurrency: 1})
	if !errors.Is(runErr, ErrChecksum) {
		t.Fatalf("Run: %v, want the checksum error of the forged file", runErr)
	}
	if len(op.keys) != 0 {
		t.Fatalf("the operation ran on %q from a data file whose MD5 is not the one manifest.json records", op.keys)
	}
	if left, _ := os.ReadDir(os.TempDir()); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// The honest file runs both rows, and leaves no copy either.
	src.files["inv/data/one.csv.gz"] = honest
	if m, err = ReadInventory(context.Background(), src, string(doc)); err != nil {
		t.Fatal(err)
	}
	op = &recordingOp{}
	if _, err := Run(context.Background(), m, op, RunOptions{Concurrency: 1}); err != nil || len(op.keys) != 2 {
		t.Fatalf("honest file: %v, ran on %q", err, op.keys)
	}
	if left, _ := os.ReadDir(os.TempDir()); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// An S3 Inventory manifest.json always names its sourceBucket, and every
// row is held to it. A manifest.json without one turned the check off, so
// one inventory could send the job to any number of buckets: it is
// refused before any data file is read.
func TestAttackInventoryWithoutSourceBucket(t *testing.T) {
	data := gzipped(t, "src,a\nother-bucket,b\n")
	sum := md5.Sum(data)
	for _, sb := range []any{nil, "", "not a bucket/"} {
		doc := map[string]any{
			"destinationBucket": "arn:aws:s3:::inv", "fileFormat": "CSV", "fileSchema": "Bucket, Key",
			"files": []any{map[string]any{"key": "d.csv.gz", "size": len(data), "MD5checksum": hex.EncodeToString(sum[:])}},
		}
		if sb != nil {
			doc["sourceBucket"] = sb
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		src := &memSource{files: map[string][]byte{"inv/d.csv.gz": data}}
		_, err = ReadInventory(context.Background(), src, string(b))
		var me *ManifestError
		if !errors.As(err, &me) || me.File != "manifest.json" {
			t.Fatalf("sourceBucket %v: %v, want a *ManifestError of manifest.json", sb, err)
		}
		if len(src.opened) != 0 {
			t.Fatalf("sourceBucket %v: a data file was read", sb)
		}
	}
}
