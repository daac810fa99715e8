package bulk

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

var ctx = context.Background()

// all reads every task of m.
func all(t *testing.T, m Manifest) []Task {
	t.Helper()
	var out []Task
	for {
		task, err := m.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, task)
	}
}

func TestReadCSV(t *testing.T) {
	in := "\ufeffbucket,plain.txt\r\n" +
		"bucket,dir%2Fa+b%20c%2C%25.txt,v1\n" +
		"\n" +
		`"bucket","quoted%22key",""` + "\n" +
		"other,%E2%82%AC" // no final newline
	got := all(t, ReadCSV(strings.NewReader(in)))
	want := []Task{
		{Bucket: "bucket", Key: "plain.txt", Seq: 0},
		{Bucket: "bucket", Key: "dir/a b c,%.txt", VersionId: "v1", Seq: 1},
		{Bucket: "bucket", Key: `quoted"key`, Seq: 2},
		{Bucket: "other", Key: "€", Seq: 3},
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

func TestReadCSVMalformed(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"one field", "b,k\nonlybucket\n"},
		{"four fields", "b,k\nb,k,v,extra\n"},
		{"bad escape", "b,k\nb,%zz\n"},
		{"empty key", "b,k\nb,\n"},
		{"empty bucket", "b,k\n,k\n"},
		{"bucket starting a formula", "b,k\n+b,k\n"},
		{"bucket =", "b,k\n=cmd|x,k\n"},
		{"bucket starting with -", "b,k\n-b,k\n"},
		{"bucket with a space", "b,k\na b,k\n"},
		{"bucket too long", "b,k\n" + strings.Repeat("b", 256) + ",k\n"},
		{"open quote", "b,k\nb,\"k\n"},
		{"stray quote", "b,k\nb,k\"x\n"},
		{"too long", "b,k\nb," + strings.Repeat("a", MaxLineLength+10) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ReadCSV(strings.NewReader(tc.in))
			if _, err := m.Next(ctx); err != nil {
				t.Fatal(err)
			}
			_, err := m.Next(ctx)
			var me *ManifestError
			if !errors.As(err, &me) || !errors.Is(err, ErrManifest) || me.Line != 2 {
				t.Fatalf("err = %v, want a ManifestError on line 2", err)
			}
			if !strings.Contains(err.Error(), "line 2") {
				t.Errorf("message %q does not name the line", err)
			}
			// The manifest stays failed: nothing past a bad line.
			if _, err2 := m.Next(ctx); !errors.Is(err2, ErrManifest) {
				t.Errorf("next after the error = %v", err2)
			}
		})
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestReadCSVClose(t *testing.T) {
	r := &closeRecorder{Reader: strings.NewReader("b,k\n")}
	m := ReadCSV(r)
	if err := m.Close(); err != nil || !r.closed {
		t.Fatalf("Close = %v, closed %v", err, r.closed)
	}
}

// Bucket names of today's rules and the legacy ones of us-east-1 (upper
// case, '_', up to 255 bytes) are read as they are.
func TestReadCSVBucketNames(t *testing.T) {
	long := strings.Repeat("b", 255)
	m := ReadCSV(strings.NewReader("my-bucket.1,k\nLegacy_Bucket,k\n" + long + ",k\n"))
	for _, want := range []string{"my-bucket.1", "Legacy_Bucket", long} {
		task, err := m.Next(context.Background())
		if err != nil || task.Bucket != want {
			t.Fatalf("got %q, %v; want %q", task.Bucket, err, want)
		}
	}
}
