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
	"strings"
	"testing"
)

// FuzzReadCSV: any manifest text gives tasks or a typed error, never a
// panic; a task read is a report line again that parses to the same
// object.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{"b,k\n", "b,a%2Fb+c,v\n", `"b","k""q",""` + "\n", "b,%zz\n", "\ufeffb,k\r\nb,k2", "b\n", ",,,\n", "b,\"k\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m := ReadCSV(strings.NewReader(in))
		for range 1000 {
			task, err := m.Next(context.Background())
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrManifest) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
			if task.Bucket == "" || task.Key == "" {
				t.Fatalf("empty bucket or key: %+v", task)
			}
			var buf bytes.Buffer
			r := NewReport(&buf)
			r.Write(Result{Task: task, Status: Succeeded})
			r.Flush()
			back, err := ParseReportLine(strings.TrimSuffix(buf.String(), "\n"))
			if err != nil {
				t.Fatalf("report line %q: %v", buf.String(), err)
			}
			if back.Bucket != task.Bucket || back.Key != task.Key || back.VersionId != task.VersionId {
				t.Fatalf("round trip: %+v -> %q -> %+v", task, buf.String(), back.Task)
			}
		}
	})
}

// fuzzSource serves data files by key, whatever the bucket.
type fuzzSource map[string][]byte

func (m fuzzSource) Open(_ context.Context, _, key string) (io.ReadCloser, error) {
	b, ok := m[key]
	if !ok {
		return nil, errors.New("no such file")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// FuzzInventory: any data-file content and schema give tasks or an
// error, never a panic.
func FuzzInventory(f *testing.F) {
	f.Add("Bucket, Key, VersionId, IsLatest, IsDeleteMarker", `"b","k%20x","v","false","false"`+"\n"+`"b","d","","true","true"`, true)
	f.Add("Key, Bucket", `"k","b"`, false)
	f.Add("Bucket, Key", `"b",`, true)
	f.Fuzz(func(t *testing.T, schema, rows string, gz bool) {
		data := []byte(rows)
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			data = b.Bytes()
		}
		sum := md5.Sum(data)
		doc, _ := json.Marshal(map[string]any{"fileFormat": "CSV", "fileSchema": schema, "destinationBucket": "arn:aws:s3:::d",
			"files": []map[string]any{{"key": "f.csv.gz", "size": len(data), "MD5checksum": hex.EncodeToString(sum[:])}}})
		m, err := ReadInventory(context.Background(), fuzzSource{"f.csv.gz": data}, string(doc))
		if err != nil {
			return
		}
		defer m.Close()
		for range 1000 {
			task, err := m.Next(context.Background())
			if err != nil {
				return
			}
			if task.Bucket == "" || task.Key == "" {
				t.Fatalf("empty bucket or key: %+v", task)
			}
		}
	})
}
