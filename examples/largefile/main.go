// Command largefile moves a large file through the encryption client with
// parallel transfers, in constant memory:
//
//   - Upload encrypts the file as one AES-GCM stream, cut into parts that
//     are encrypted and uploaded several at a time (a multipart upload);
//     the object is the same as a single PutObject would store, so every
//     S3 Encryption Client can read it.
//   - DownloadFile fetches ranges in parallel, decrypts each at its offset
//     and combines their hashes into the object's one GCM tag, which is
//     checked before the file appears under its name.
//   - Download does the same into any io.WriterAt.
//
// The file is generated while it is uploaded and never held in memory; its
// SHA-256 is computed on the way and checked against the downloads.
//
//	go -C examples run ./largefile [-size MiB]
//
// It uses the in-process S3 test server unless S3EC_EXAMPLE_BUCKET names a
// real bucket (the in-process server keeps the object in memory; the
// client does not).
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
	"github.com/s3ec/s3ec-go/materials"
)

func main() {
	log.SetFlags(0)
	sizeMiB := flag.Int64("size", 48, "size of the generated file, in MiB")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *sizeMiB<<20); err != nil {
		log.Fatal("largefile: ", err)
	}
}

func run(ctx context.Context, w io.Writer, size int64) error {
	env, err := exampleenv.Open(ctx, w, "largefile")
	if err != nil {
		return err
	}
	defer env.Close()
	masterKey := make([]byte, 32)
	if _, err := rand.Read(masterKey); err != nil {
		return err
	}
	keyring, err := materials.NewAESKeyring(masterKey)
	if err != nil {
		return err
	}
	client, err := encryptionclient.New(env.S3, keyring)
	if err != nil {
		return err
	}
	bucket, key := env.Bucket, env.Key("datasets/large.bin")
	object := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}

	// 1. The source: pseudo-random bytes made as they are read, and a
	//    SHA-256 of everything read, kept on the side.
	source := io.LimitReader(mrand.NewChaCha8([32]byte{}), size)
	sourceHash := sha256.New()
	body := io.TeeReader(source, sourceHash)

	// 2. Upload. The body need not be seekable; with its length known the
	//    part size is fixed from the start. Memory is about
	//    Concurrency × PartSize (4 × 8 MiB here), whatever the file's size.
	start := time.Now()
	up, err := client.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: body, ContentLength: aws.Int64(size),
	}, func(o *encryptionclient.UploadOptions) {
		o.PartSize = 8 << 20 // the defaults, spelled out
		o.Concurrency = 4
		o.Progress = progress(w, "upload", size)
	})
	if err != nil {
		return err
	}
	want := hex.EncodeToString(sourceHash.Sum(nil))
	how := fmt.Sprintf("%d parts", up.Parts)
	if up.Parts == 0 {
		how = "one PutObject" // below the multipart threshold (PartSize)
	}
	fmt.Fprintf(w, "uploaded %s in %s: %s\n", mib(up.Size), how, throughput(up.Size, time.Since(start)))
	fmt.Fprintf(w, "  source SHA-256 %s\n", want)

	dir, err := os.MkdirTemp("", "s3ec-largefile-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// 3. DownloadFile writes to a temporary file beside the target and
	//    syncs and renames it only once the whole object was authenticated:
	//    the target never holds unauthenticated bytes. (The sync to disk is
	//    why it may time slower than Download below.)
	path := filepath.Join(dir, "large.bin")
	start = time.Now()
	n, err := client.DownloadFile(ctx, path, object, func(o *encryptionclient.DownloadOptions) {
		o.Progress = progress(w, "DownloadFile", size)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "DownloadFile: %s, authenticated: %s\n", mib(n), throughput(n, time.Since(start)))
	if err := checkFile(w, path, want); err != nil {
		return err
	}

	// 4. Download writes into any io.WriterAt, here a file of our own. It
	//    writes plaintext before the tag is checked at the end, so when it
	//    returns an error everything written must be thrown away.
	path = filepath.Join(dir, "large-copy.bin")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	start = time.Now()
	n, err = client.Download(ctx, f, object)
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(path)
		return err
	}
	fmt.Fprintf(w, "Download: %s, authenticated: %s\n", mib(n), throughput(n, time.Since(start)))
	if err := checkFile(w, path, want); err != nil {
		return err
	}
	fmt.Fprintln(w, "OK: both downloads match the source")
	return nil
}

// progress returns a progress callback that prints a line each time
// another quarter of total is done. The transfers call it from one
// goroutine at a time.
func progress(w io.Writer, what string, total int64) func(done int64) {
	printed := int64(0)
	return func(done int64) {
		if quarter := done * 4 / total; quarter > printed {
			printed = quarter
			fmt.Fprintf(w, "  %s %3d%% (%s)\n", what, done*100/total, mib(done))
		}
	}
}

// checkFile compares the SHA-256 of a file with want.
func checkFile(w io.Writer, path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: SHA-256 %s, want %s", filepath.Base(path), got, want)
	}
	fmt.Fprintf(w, "  %s: SHA-256 matches\n", filepath.Base(path))
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func throughput(n int64, d time.Duration) string {
	return fmt.Sprintf("%.2fs, %.0f MiB/s", d.Seconds(), float64(n)/(1<<20)/d.Seconds())
}
