package bulk

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type invFile struct {
	key  string
	rows []string
}

// writeInventory writes the data files (gzip CSV) under dir/KEY and
// returns the text of a manifest.json listing them with their real MD5s.
func writeInventory(t *testing.T, dir, format, schema string, files []invFile) string {
	t.Helper()
	type file struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
		MD5  string `json:"MD5checksum"`
	}
	var list []file
	for _, f := range files {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		for _, r := range f.rows {
			zw.Write([]byte(r + "\n"))
		}
		zw.Close()
		p := filepath.Join(dir, filepath.FromSlash(f.key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(b.Bytes())
		list = append(list, file{f.key, int64(b.Len()), hex.EncodeToString(sum[:])})
	}
	doc, err := json.Marshal(map[string]any{
		"sourceBucket": "src", "destinationBucket": "arn:aws:s3:::inventory-dest",
		"version": "2016-11-30", "fileFormat": format, "fileSchema": schema, "files": list,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

const schema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag"

func sampleInventory(t *testing.T, dir string) string {
	return writeInventory(t, dir, "CSV", schema, []invFile{
		{"src/config/data/one.csv.gz", []string{
			`"src","a%2Fb+c.txt","v2","true","false","10","2024-01-01T00:00:00.000Z","e1"`,
			`"src","a%2Fb+c.txt","v1","false","false","9","2023-01-01T00:00:00.000Z","e0"`,
			`"src","gone.txt","v9","true","true","","2024-01-01T00:00:00.000Z",""`,
		}},
		{"src/config/data/two.csv.gz", []string{
			`"src","%E2%82%AC","","true","false","1","2024-01-01T00:00:00.000Z","e2"`,
		}},
	})
}

func TestReadInventory(t *testing.T) {
	dir := t.TempDir()
	doc := sampleInventory(t, dir)
	m, err := ReadInventory(ctx, DirSource(dir), doc)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := all(t, m)
	want := []Task{
		{Bucket: "src", Key: "a/b c.txt", VersionId: "v2", Seq: 0},
		{Bucket: "src", Key: "a/b c.txt", VersionId: "v1", Seq: 1, NotLatest: true},
		{Bucket: "src", Key: "€", Seq: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("task %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestOpenLocalInventory(t *testing.T) {
	dir := t.TempDir()
	doc := sampleInventory(t, dir)
	// By name, and by content under another name.
	for _, name := range []string{"manifest.json", "latest-inventory"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Open(ctx, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(all(t, m)); n != 3 {
			t.Errorf("%s: %d tasks, want 3", name, n)
		}
		m.Close()
	}
	// Data files downloaded flat beside manifest.json also work.
	flat := t.TempDir()
	doc = sampleInventory(t, t.TempDir())
	sampleInventory(t, filepath.Join(flat, "x"))
	for _, f := range []string{"one.csv.gz", "two.csv.gz"} {
		b, err := os.ReadFile(filepath.Join(flat, "x", "src", "config", "data", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(flat, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(flat, "manifest.json"), []byte(doc), 0o644)
	m, err := Open(ctx, nil, filepath.Join(flat, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(all(t, m)); n != 3 {
		t.Errorf("flat: %d tasks, want 3", n)
	}
}

func TestOpenLocalCSV(t *testing.T) {
	p := filepath.Join(t.TempDir(), "manifest.csv")
	os.WriteFile(p, []byte("b,k1\nb,k2,v\n"), 0o644)
	m, err := Open(ctx, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := all(t, m); len(got) != 2 || got[1].VersionId != "v" {
		t.Fatalf("got %+v", got)
	}
	if _, err := Open(ctx, nil, "s3://bucket-only"); err == nil {
		t.Error("s3:// without a key accepted")
	}
}

func TestInventorySchemaOrder(t *testing.T) {
	dir := t.TempDir()
	doc := writeInventory(t, dir, "CSV", "Key, Size, Bucket", []invFile{{"d/f.csv.gz", []string{`"k%20one","5","src"`}}})
	m, err := ReadInventory(ctx, DirSource(dir), doc)
	if err != nil {
		t.Fatal(err)
	}
	if got := all(t, m); len(got) != 1 || got[0] != (Task{Bucket: "src", Key: "k one"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestInventoryRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"ORC", "Parquet"} {
		doc := writeInventory(t, dir, format, schema, nil)
		_, err := ReadInventory(ctx, DirSource(dir), doc)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Format != format || !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), format) {
			t.Errorf("%s: err = %v", format, err)
		}
	}
	if _, err := ReadInventory(ctx, DirSource(dir), writeInventory(t, dir, "CSV", "Key, Size", nil)); !errors.Is(err, ErrManifest) {
		t.Errorf("schema without Bucket: %v", err)
	}
	if _, err := ReadInventory(ctx, DirSource(dir), "{not json"); !errors.Is(err, ErrManifest) {
		t.Errorf("bad json: %v", err)
	}
	big := filepath.Join(dir, "manifest.json")
	os.WriteFile(big, bytes.Repeat([]byte(" "), MaxInventoryManifestSize+1), 0o644)
	if _, err := Open(ctx, nil, big); !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), "16 MiB") {
		t.Errorf("oversized manifest.json: %v", err)
	}
	doc := writeInventory(t, dir, "CSV", schema, []invFile{{"d/bad.csv.gz", []string{`"b","k","","true","false"`}}})
	m, _ := ReadInventory(ctx, DirSource(dir), doc)
	if _, err := m.Next(ctx); !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), "d/bad.csv.gz line 1") {
		t.Errorf("short row: %v", err)
	}
}

func TestInventoryChecksum(t *testing.T) {
	dir := t.TempDir()
	doc := writeInventory(t, dir, "CSV", "Bucket, Key", []invFile{
		{"d/one.csv.gz", []string{`"src","k1"`, `"src","k2"`}},
		{"d/two.csv.gz", []string{`"src","k3"`}},
	})
	// Replace the first file by another valid gzip file of other rows.
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("\"src\",\"k1\"\n\"src\",\"evil\"\n"))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "d", "one.csv.gz"), b.Bytes(), 0o644)
	m, err := ReadInventory(ctx, DirSource(dir), doc)
	if err != nil {
		t.Fatal(err)
	}
	var err2 error
	n := 0
	for err2 == nil {
		_, err2 = m.Next(ctx)
		n++
	}
	var ce *ChecksumError
	if !errors.As(err2, &ce) || !errors.Is(err2, ErrChecksum) || ce.File != "d/one.csv.gz" {
		t.Fatalf("err = %v, want a checksum error for d/one.csv.gz", err2)
	}
	if n != 1 { // the error before any row of the file; the second file is never read
		t.Errorf("%d calls to the error", n)
	}
}
