// Command rotation moves encrypted objects from an old wrapping key to a
// new one without re-uploading them. Every object has its own data key;
// rotation re-wraps only that data key (a few hundred bytes of metadata,
// or the instruction file) under the new key. The ciphertext is not read
// or rewritten, so rotating a terabyte costs what rotating a kilobyte
// does.
//
// The example rotates one object with Rewrap and shows that the old key no
// longer reads it while the new one does, then rotates a whole prefix with
// RotatePrefix, twice: the second run finds nothing left to do, which is
// what makes an interrupted rotation safe to start again.
//
//	go -C examples run ./rotation
//
// It uses two local AES keys, so it needs no KMS; with KMS keyrings the
// calls are the same, and the data key moves with KMS ReEncrypt without
// ever reaching this process. It uses the in-process S3 test server unless
// S3EC_EXAMPLE_BUCKET names a real bucket.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
	"github.com/s3ec/s3ec-go/materials"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal("rotation: ", err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	env, err := exampleenv.Open(ctx, w, "rotation")
	if err != nil {
		return err
	}
	defer env.Close()
	bucket := env.Bucket

	// Two local keys. The material description, stored with each object,
	// names the key that wrapped it; give every key its own.
	oldKeyring, err := newAESKeyring("2025")
	if err != nil {
		return err
	}
	newKeyring, err := newAESKeyring("2026")
	if err != nil {
		return err
	}
	oldClient, err := encryptionclient.New(env.S3, oldKeyring)
	if err != nil {
		return err
	}
	newClient, err := encryptionclient.New(env.S3, newKeyring)
	if err != nil {
		return err
	}

	// 1. One object, written under the old key.
	key := env.Key("contracts/acme.txt")
	if err := put(ctx, oldClient, bucket, key, "Contract with ACME Corp., signed 2025-11-02.\n"); err != nil {
		return err
	}

	// Rewrap: the client's keyring (old) unwraps the data key, the new
	// keyring wraps it, and the object's metadata is rewritten in place by
	// a conditional copy that never overwrites a concurrent write.
	out, err := oldClient.Rewrap(ctx, &encryptionclient.RewrapInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Keyring: newKeyring,
	})
	if err != nil {
		return err
	}
	head, err := env.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Rewrap %s: %s object, wrap %s -> %s, material description now %s, content untouched\n",
		key, out.Format, out.From, out.To, head.Metadata["x-amz-m"])

	// The old key no longer reads it; the new key does.
	if _, err := get(ctx, oldClient, bucket, key); !errors.Is(err, encryptionclient.ErrUnwrap) {
		return fmt.Errorf("read with the old key: got %v, want ErrUnwrap", err)
	}
	fmt.Fprintln(w, "  read with the old key: ErrUnwrap")
	text, err := get(ctx, newClient, bucket, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  read with the new key: %q\n", text)

	// 2. A prefix: four objects under the old key, one already under the
	//    new key, and one that is not encrypted at all.
	for i := 1; i <= 4; i++ {
		if err := put(ctx, oldClient, bucket, env.Key(fmt.Sprintf("reports/q%d.txt", i)), fmt.Sprintf("Quarterly report %d\n", i)); err != nil {
			return err
		}
	}
	if err := put(ctx, newClient, bucket, env.Key("reports/summary.txt"), "Summary\n"); err != nil {
		return err
	}
	if _, err := env.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(env.Key("reports/README")), Body: strings.NewReader("public notes\n"),
	}); err != nil {
		return err
	}

	// RotatePrefix lists the prefix and re-wraps objects in parallel. A
	// failed object does not stop it; Progress sees every object, and
	// ResumeAfter says where to start again after an interruption.
	for run := 1; run <= 2; run++ {
		fmt.Fprintf(w, "RotatePrefix run %d:\n", run)
		res, err := oldClient.RotatePrefix(ctx, &encryptionclient.RotatePrefixInput{
			Bucket:  aws.String(bucket),
			Prefix:  aws.String(env.Key("reports/")),
			Keyring: newKeyring,
			Progress: func(ev encryptionclient.RotateEvent) {
				if run == 1 { // the second run would only repeat "already on the new key"
					fmt.Fprintf(w, "  %-20s %s\n", strings.TrimPrefix(ev.Key, env.Prefix), ev.Status)
				}
			},
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  rotated %d, skipped %d (%d already on the new key, %d not encrypted), failed %d\n",
			res.Rotated, res.Skipped, res.SkippedCurrent, res.SkippedNotEncrypted, res.Failed)
		if res.Failed > 0 {
			return fmt.Errorf("rotation failed for %s: %v", res.Failures[0].Key, res.Failures[0].Err)
		}
	}

	// 3. Everything now reads with the new key alone: the old one can be
	//    retired (keep a backup until you are sure).
	for i := 1; i <= 4; i++ {
		if _, err := get(ctx, newClient, bucket, env.Key(fmt.Sprintf("reports/q%d.txt", i))); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "OK: every object reads with the new key alone")
	return nil
}

// newAESKeyring returns a keyring for a fresh random AES-256 key, named by
// its material description. Real keys come from your secret store.
func newAESKeyring(name string) (*materials.AESKeyring, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return materials.NewAESKeyring(key, func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"key": name}
	})
}

func put(ctx context.Context, c *encryptionclient.Client, bucket, key, text string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(text)})
	return err
}

func get(ctx context.Context, c *encryptionclient.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}
