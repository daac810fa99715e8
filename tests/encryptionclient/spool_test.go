package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// The ciphertext spool (Options.SpoolLargeObjects): objects over
// BufferSize are authenticated through a temporary file that holds only
// ciphertext, is created 0600, loses its name at once (Unix) and is closed
// on every path. Each test gives the client its own t.TempDir() as
// SpoolDir and checks, after every path, that the directory is empty and
// (on Linux) that the process holds no descriptor of a file that was in it.

const spoolBuffer = 1 << 20 // BufferSize of the spooling clients

func spoolOpts(dir string) func(*encryptionclient.Options) {
	return func(o *encryptionclient.Options) {
		o.BufferSize, o.SpoolLargeObjects, o.SpoolDir = spoolBuffer, true, dir
	}
}

// spoolFDs returns the descriptors of this process open on files of dir
// (deleted ones too), as /proc/self/fd/N paths. Only Linux tells.
func spoolFDs(t *testing.T, dir string) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		p := filepath.Join("/proc/self/fd", e.Name())
		target, err := os.Readlink(p)
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			out = append(out, p)
		}
	}
	return out
}

// spoolGone fails unless dir is empty and no descriptor of its files is open.
func spoolGone(t *testing.T, dir, when string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("%s: spool directory holds %d entries (%s…)", when, len(ents), ents[0].Name())
	}
	if fds := spoolFDs(t, dir); len(fds) != 0 {
		t.Errorf("%s: %d spool descriptors still open", when, len(fds))
	}
}

// putLarge stores an object of n random bytes and returns them.
func putLarge(t *testing.T, e *env, key string, n int) []byte {
	t.Helper()
	data := randBytes(t, n)
	if err := e.put(e.client(e.krs["aes"]), context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	return data
}

// An object over BufferSize is read authenticated through the spool; the
// spool file is a 0600 regular file without a name that holds exactly the
// stored ciphertext (never plaintext), and it is gone once the body ends.
// Objects up to BufferSize never touch the disk.
func TestSpoolReadsLargeObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	c := e.client(e.krs["aes"], spoolOpts(dir))
	data := putLarge(t, e, "big", 3*spoolBuffer+12345)
	stored, _, err := e.raw("big")
	if err != nil {
		t.Fatal(err)
	}

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(out.ContentLength) != int64(len(data)) {
		t.Errorf("ContentLength %d, want %d", aws.ToInt64(out.ContentLength), len(data))
	}
	if runtime.GOOS != "windows" {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("the spool file still has a name while the body is open: %s", ents[0].Name())
		}
	}
	if runtime.GOOS == "linux" {
		fds := spoolFDs(t, dir)
		if len(fds) != 1 {
			t.Fatalf("%d spool descriptors open, want 1", len(fds))
		}
		st, err := os.Stat(fds[0])
		if err != nil {
			t.Fatal(err)
		}
		if !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
			t.Errorf("spool file mode %v, want a regular file of mode 0600", st.Mode())
		}
		if nl := linkCount(st); nl != 0 {
			t.Errorf("spool file has %d links, want 0 (unlinked)", nl)
		}
		onDisk, err := os.ReadFile(fds[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(onDisk, stored[:len(stored)-16]) {
			t.Errorf("the spool holds %d bytes that are not the stored ciphertext (%d bytes without its tag)", len(onDisk), len(stored)-16)
		}
		if bytes.Contains(onDisk, data[1000:1064]) {
			t.Error("the spool holds plaintext")
		}
	}
	got, err := io.ReadAll(out.Body)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v; want the %d bytes put", len(got), err, len(data))
	}
	spoolGone(t, dir, "after the end of the body")
	if err := out.Body.Close(); err != nil {
		t.Fatal(err)
	}
	spoolGone(t, dir, "after Close")

	// At BufferSize exactly: in memory, no file.
	small := putLarge(t, e, "small", spoolBuffer)
	out, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("small")})
	if err != nil {
		t.Fatal(err)
	}
	spoolGone(t, dir, "a GET of an object of BufferSize")
	got, err = io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("small object: %d bytes, %v", len(got), err)
	}
}

// A tampered large object (a ciphertext byte or the tag) fails GetObject
// with ErrAuthentication: no body, not one byte of plaintext, and the spool
// is gone.
func TestSpoolTamperedObjectReleasesNothing(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	putLarge(t, e.env, "big", 2*spoolBuffer+100)
	for name, at := range map[string]func(n int) int{
		"ciphertext byte": func(n int) int { return n / 2 },
		"first byte":      func(int) int { return 0 },
		"tag byte":        func(n int) int { return n - 1 },
	} {
		e.liar.Reset()
		e.liar.On(s3test.Get("big"), 0, s3test.EditBody(func(_ *http.Request, b []byte) []byte {
			b[at(len(b))] ^= 0x40
			return b
		}))
		c := e.lyingClient(e.krs["aes"], spoolOpts(dir))
		out, err := c.GetObject(ctx, e.in("big"))
		if out != nil || !errors.Is(err, encryptionclient.ErrAuthentication) {
			t.Errorf("%s flipped: output %v, error %v; want no output and ErrAuthentication", name, out != nil, err)
		}
		spoolGone(t, dir, name+" flipped")
	}
}

// cancelBody cancels a context once n bytes of the body were read.
type cancelBody struct {
	io.ReadCloser
	n      int64
	cancel context.CancelFunc
}

func (b *cancelBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	if b.n -= int64(k); b.n <= 0 && b.cancel != nil {
		b.cancel()
		b.cancel = nil
	}
	return k, err
}

// A GET cancelled while the ciphertext is spooled fails with the
// context's error, and the spool is gone.
func TestSpoolCancelMidway(t *testing.T) {
	e := newLiarEnv(t)
	dir := t.TempDir()
	putLarge(t, e.env, "big", 8*spoolBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.liar.On(s3test.Get("big"), 0, func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.Body = &cancelBody{ReadCloser: resp.Body, n: 2 * spoolBuffer, cancel: cancel}
		return resp, nil
	})
	c := e.lyingClient(e.krs["aes"], spoolOpts(dir))
	out, err := c.GetObject(ctx, e.in("big"))
	if out != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("output %v, error %v; want no output and context.Canceled", out != nil, err)
	}
	spoolGone(t, dir, "after the cancellation")
}

// Closing the body before its end closes and removes the spool; reads
// after Close fail. A body dropped without Close after a panic in the
// caller's reads loses its spool once it is collected.
func TestSpoolCloseBeforeEOF(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	c := e.client(e.krs["aes"], spoolOpts(dir))
	data := putLarge(t, e, "big", 2*spoolBuffer+7)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 100_000)
	if _, err := io.ReadFull(out.Body, head); err != nil || !bytes.Equal(head, data[:len(head)]) {
		t.Fatalf("first bytes: %v", err)
	}
	if err := out.Body.Close(); err != nil {
		t.Fatal(err)
	}
	spoolGone(t, dir, "after Close before the end")
	if n, err := out.Body.Read(head); n != 0 || err == nil {
		t.Errorf("Read after Close: %d bytes, %v", n, err)
	}

	// A panic in the caller's reads: the body is dropped, never closed.
	func() {
		defer func() { recover() }()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")})
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(out.Body, head)
		panic("the caller's code fails mid-read")
	}()
	if runtime.GOOS == "linux" && len(spoolFDs(t, dir)) != 1 {
		t.Fatalf("the dropped body's spool is not open: the test proves nothing")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(spoolFDs(t, dir)) != 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	spoolGone(t, dir, "after the dropped body was collected")
}

// A SpoolDir that cannot hold the file fails GetObject with ErrSpool (the
// file system's error stays reachable) before anything is read or
// released.
func TestSpoolDirUnusable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	putLarge(t, e, "big", 2*spoolBuffer)
	base := t.TempDir()
	notDir := filepath.Join(base, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dir string
		want      error
	}{
		{"missing directory", filepath.Join(base, "missing"), fs.ErrNotExist},
		{"a file, not a directory", notDir, syscall.ENOTDIR},
	}
	if os.Geteuid() != 0 && runtime.GOOS != "windows" { // root writes anywhere
		ro := filepath.Join(base, "read-only")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct {
			name, dir string
			want      error
		}{"read-only directory", ro, fs.ErrPermission})
	}
	for _, tc := range cases {
		c := e.client(e.krs["aes"], spoolOpts(tc.dir))
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")})
		if out != nil || !errors.Is(err, encryptionclient.ErrSpool) || !errors.Is(err, tc.want) {
			t.Errorf("%s: output %v, error %v; want ErrSpool and %v", tc.name, out != nil, err, tc.want)
		}
	}
}

// A body longer or shorter than its Content-Length, or cut, fails
// GetObject with ErrTooLarge or ErrTruncated before any release; no more
// than Content-Length bytes reach the spool, and the spool is gone.
func TestSpoolBodyLengthLies(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	putLarge(t, e.env, "big", 2*spoolBuffer+50)
	stored, _, err := e.raw("big")
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(stored))
	cases := []struct {
		name string
		lies []s3test.Lie
		want error
	}{
		{"one byte appended", []s3test.Lie{s3test.LongBody([]byte{0})}, encryptionclient.ErrTooLarge},
		{"a megabyte appended", []s3test.Lie{s3test.LongBody(make([]byte, 1<<20))}, encryptionclient.ErrTooLarge},
		{"ends a byte early", []s3test.Lie{s3test.ShortBody(n - 1)}, encryptionclient.ErrTruncated},
		{"ends before the tag", []s3test.Lie{s3test.ShortBody(n - 16)}, encryptionclient.ErrTruncated},
		{"ends halfway", []s3test.Lie{s3test.ShortBody(n / 2)}, encryptionclient.ErrTruncated},
		{"cut halfway", []s3test.Lie{s3test.CutBody(n / 2)}, io.ErrUnexpectedEOF},
		{"Content-Length larger than the body", []s3test.Lie{s3test.SetHeader("Content-Length", strconv.FormatInt(n+1000, 10))}, encryptionclient.ErrTruncated},
		{"Content-Length smaller than the body", []s3test.Lie{s3test.SetHeader("Content-Length", strconv.FormatInt(n-1000, 10))}, encryptionclient.ErrTooLarge},
		{"Content-Length beyond the GCM limit", []s3test.Lie{s3test.SetHeader("Content-Length", "99999999999999")}, encryptionclient.ErrTooLarge},
	}
	for _, tc := range cases {
		e.liar.Reset()
		e.liar.On(s3test.Get("big"), 0, tc.lies...)
		c := e.lyingClient(e.krs["aes"], spoolOpts(dir))
		out, err := c.GetObject(ctx, e.in("big"))
		if out != nil || !errors.Is(err, tc.want) {
			t.Errorf("%s: output %v, error %v; want no output and %v", tc.name, out != nil, err, tc.want)
		}
		spoolGone(t, dir, tc.name)
	}
}

// The spool options are refused where they would do nothing, and CBC
// objects (no tag to verify) are not spooled.
func TestSpoolOptions(t *testing.T) {
	e := newEnv(t)
	for name, opt := range map[string]func(*encryptionclient.Options){
		"SpoolLargeObjects with EnableDelayedAuthentication": func(o *encryptionclient.Options) {
			o.SpoolLargeObjects, o.EnableDelayedAuthentication = true, true
		},
		"SpoolDir without SpoolLargeObjects": func(o *encryptionclient.Options) { o.SpoolDir = t.TempDir() },
	} {
		if _, err := encryptionclient.New(e.plain, e.krs["aes"], opt); !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	dir := t.TempDir()
	c := e.client(e.krs["aes"], spoolOpts(dir))
	if o := c.Options(); !o.SpoolLargeObjects || o.SpoolDir != dir {
		t.Errorf("Options() = SpoolLargeObjects %v SpoolDir %q", o.SpoolLargeObjects, o.SpoolDir)
	}
}

// Download and DownloadFile never spool: they authenticate by parts, in
// constant memory, with or without the option.
func TestSpoolDownloadUnaffected(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	c := e.client(e.krs["aes"], spoolOpts(dir))
	data := putLarge(t, e, "big", 3*spoolBuffer+1)
	if got, err := e.download(c, ctx, "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Download: %d bytes, %v", len(got), err)
	}
	path := filepath.Join(t.TempDir(), "out")
	if _, err := c.DownloadFile(ctx, path, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("DownloadFile: %v", err)
	}
	spoolGone(t, dir, "after Download and DownloadFile")
}
