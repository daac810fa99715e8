// Command quickstart shows s3ec-go end to end with zero setup: it starts an
// in-process S3 server, generates a local AES key, uploads a file through
// the encryption client, shows what S3 stored (ciphertext and envelope
// metadata) beside the decrypted text, and checks that they match.
//
//	go -C examples run ./quickstart [file]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"os"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

func main() {
	log.SetFlags(0)
	plaintext := []byte("Attack at dawn. Nobody at the storage provider can read this line.\n")
	if len(os.Args) > 1 {
		b, err := os.ReadFile(os.Args[1])
		if err != nil {
			log.Fatal(err)
		}
		plaintext = b
	}
	if err := run(context.Background(), os.Stdout, plaintext); err != nil {
		log.Fatal("quickstart: ", err)
	}
}

func run(ctx context.Context, w io.Writer, plaintext []byte) error {
	// 1. An S3 server in this process, and a plain SDK client for it. With
	//    real S3 you would use s3.NewFromConfig(cfg) instead.
	srv := s3test.NewFake()
	defer srv.Close()
	plain := srv.Client()
	bucket := "quickstart"
	if _, err := plain.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return err
	}

	// 2. A local 256-bit master key. Keep real keys in a key manager (or use
	//    materials.NewKMSKeyring with AWS KMS).
	masterKey := make([]byte, 32)
	if _, err := rand.Read(masterKey); err != nil {
		return err
	}
	keyring, err := materials.NewAESKeyring(masterKey, func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"key": "quickstart-2026"}
	})
	if err != nil {
		return err
	}

	// 3. The encryption client wraps the plain client.
	client, err := encryptionclient.New(plain, keyring)
	if err != nil {
		return err
	}

	// 4. Upload: encrypted in this process, streamed to S3.
	key := "notes/secret.txt"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(plaintext),
		ContentType: aws.String("text/plain"),
	}); err != nil {
		return err
	}

	// 5. What S3 stored, read with the plain client.
	raw, err := plain.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	stored, err := io.ReadAll(raw.Body)
	raw.Body.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "S3 stored s3://%s/%s: %d bytes (%d of plaintext + a 16-byte tag)\n", bucket, key, len(stored), len(plaintext))
	fmt.Fprintf(w, "  ciphertext: %s\n", preview(stored))
	fmt.Fprintln(w, "  envelope metadata:")
	names := make([]string, 0, len(raw.Metadata))
	for k := range raw.Metadata {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "    x-amz-meta-%s: %s\n", k, raw.Metadata[k])
	}

	// 6. Download through the encryption client: authenticated, then
	//    decrypted.
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	decrypted, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "decrypted through the encryption client: %d bytes\n  %s\n", len(decrypted), preview(decrypted))
	if !bytes.Equal(decrypted, plaintext) {
		return fmt.Errorf("decrypted text differs from the original")
	}
	if bytes.Contains(stored, plaintext[:min(len(plaintext), 16)]) {
		return fmt.Errorf("the stored object contains plaintext")
	}
	fmt.Fprintln(w, "OK: the round trip matches and S3 only ever saw ciphertext")
	return nil
}

// preview shows printable text as text and anything else as hex.
func preview(b []byte) string {
	const n = 48
	s := b[:min(len(b), n)]
	more := ""
	if len(b) > n {
		more = "…"
	}
	for _, c := range s {
		if (c < 0x20 || c > 0x7e) && c != '\n' {
			return hex.EncodeToString(s) + more
		}
	}
	return fmt.Sprintf("%q%s", s, more)
}
