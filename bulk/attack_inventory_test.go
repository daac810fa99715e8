package bulk

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Attack (issue 12): an inventory's manifest.json lists a data file
// without its MD5 or size. The rows of such a file are unchecked: whoever
// can write the data files but not manifest.json (or replace a file
// between a run and its resume) picks the objects of the job. A
// manifest.json must record both for every file, and is refused before
// any row is read.
func TestAttackInventoryDataFileWithoutChecksum(t *testing.T) {
	data := gzipped(t, "src,mine\nsrc,forged%2Frow\n")
	sum := md5.Sum(data)
	good := hex.EncodeToString(sum[:])
	for name, file := range map[string]map[string]any{
		"no MD5":        {"key": "d.csv.gz", "size": len(data)},
		"empty MD5":     {"key": "d.csv.gz", "size": len(data), "MD5checksum": ""},
		"MD5 not hex":   {"key": "d.csv.gz", "size": len(data), "MD5checksum": strings.Repeat("z", 32)},
		"short MD5":     {"key": "d.csv.gz", "size": len(data), "MD5checksum": good[:30]},
		"no size":       {"key": "d.csv.gz", "MD5checksum": good},
		"negative size": {"key": "d.csv.gz", "size": -1, "MD5checksum": good},
	} {
		doc, err := json.Marshal(map[string]any{"sourceBucket": "src", "destinationBucket": "arn:aws:s3:::inv", "fileFormat": "CSV", "fileSchema": "Bucket, Key",
			"files": []any{map[string]any{"key": "ok.csv.gz", "size": len(data), "MD5checksum": good}, file}})
		if err != nil {
			t.Fatal(err)
		}
		src := &memSource{files: map[string][]byte{"inv/ok.csv.gz": data, "inv/d.csv.gz": data}}
		m, err := ReadInventory(context.Background(), src, string(doc))
		if err == nil {
			tasks, derr := drain(m)
			t.Errorf("%s: ReadInventory accepted the manifest; %d tasks read, then %v", name, len(tasks), derr)
			continue
		}
		var me *ManifestError
		if !errors.As(err, &me) || len(src.opened) != 0 {
			t.Errorf("%s: %v (files opened: %v), want a *ManifestError before any file is read", name, err, src.opened)
		}
	}
}

// Attack (issue 12): a fileSchema of millions of column names fits in
// manifest.json's 16 MiB and made the reader build a map of each (about
// 180 MiB for one manifest); no row could ever match it. It is refused
// while it is still a string.
func TestAttackInventoryHugeFileSchema(t *testing.T) {
	var b strings.Builder
	b.WriteString("Bucket,Key")
	for i := 0; b.Len() < 15<<20; i++ {
		fmt.Fprintf(&b, ",c%d", i)
	}
	doc, err := json.Marshal(map[string]any{"fileFormat": "CSV", "fileSchema": b.String(), "files": []any{}})
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	b.Reset()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = ReadInventory(context.Background(), &memSource{}, text)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrManifest) {
		t.Errorf("a fileSchema of millions of columns: %v, want a *ManifestError", err)
	}
	// json.Unmarshal copies the schema once; more than a few copies is
	// the per-column work.
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*uint64(len(text)) {
		t.Errorf("reading a %d-byte manifest.json allocated %d MiB", len(text), got>>20)
	}
}

// mapGetter is an S3 store of a few objects ("bucket/key") that records
// what was read.
type mapGetter struct {
	objects map[string][]byte
	read    []string
}

func (g *mapGetter) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	name := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	g.read = append(g.read, name)
	b, ok := g.objects[name]
	if !ok {
		return nil, &s3types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// Attack (issue 12): whoever writes manifest.json into the inventory
// bucket names its destinationBucket, and so which bucket the data files
// are read from with the job's credentials: another team's inventory (a
// bucket the writer cannot read) would become the job's task list. S3
// Inventory writes manifest.json beside its data files; one that names
// another bucket is refused before anything else is read.
func TestAttackInventoryDataFilesInAnotherBucket(t *testing.T) {
	data := gzipped(t, "src,payroll%2F2026.csv\n")
	sum := md5.Sum(data)
	for _, dest := range []string{"arn:aws:s3:::private-inventories", "private-inventories"} {
		doc, err := json.Marshal(map[string]any{"sourceBucket": "src", "destinationBucket": dest, "fileFormat": "CSV", "fileSchema": "Bucket, Key",
			"files": []any{map[string]any{"key": "inv/data/1.csv.gz", "size": len(data), "MD5checksum": hex.EncodeToString(sum[:])}}})
		if err != nil {
			t.Fatal(err)
		}
		g := &mapGetter{objects: map[string][]byte{"shared/inv/manifest.json": doc, "private-inventories/inv/data/1.csv.gz": data}}
		m, err := Open(context.Background(), g, "s3://shared/inv/manifest.json")
		if err == nil {
			tasks, derr := drain(m)
			t.Errorf("destinationBucket %s: the manifest of bucket shared was read on (files read %v): %d tasks, %v", dest, g.read, len(tasks), derr)
			continue
		}
		if !errors.Is(err, ErrManifest) || len(g.read) != 1 {
			t.Errorf("destinationBucket %s: %v (read %v), want a *ManifestError after manifest.json alone", dest, err, g.read)
		}
	}
	// The inventory's own bucket, named as S3 Inventory names it, is read.
	doc, _ := json.Marshal(map[string]any{"sourceBucket": "src", "destinationBucket": "arn:aws:s3:::shared", "fileFormat": "CSV", "fileSchema": "Bucket, Key",
		"files": []any{map[string]any{"key": "inv/data/1.csv.gz", "size": len(data), "MD5checksum": hex.EncodeToString(sum[:])}}})
	g := &mapGetter{objects: map[string][]byte{"shared/inv/manifest.json": doc, "shared/inv/data/1.csv.gz": data}}
	m, err := Open(context.Background(), g, "s3://shared/inv/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if tasks, err := drain(m); err != nil || len(tasks) != 1 || tasks[0].Key != "payroll/2026.csv" {
		t.Fatalf("the inventory's own bucket: %v, %v", tasks, err)
	}
}
