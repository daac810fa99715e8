// Command rangedread reads parts of an encrypted object with HTTP ranges
// (bytes=a-b, bytes=a-, bytes=-n), as the AWS S3 Encryption Clients allow.
//
// Ranges are NOT authenticated. An object is encrypted with AES-GCM as one
// stream whose single authentication tag covers all of it; a range is
// decrypted without that tag, so nothing detects bytes that were changed
// in S3. AES-GCM is malleable: flipping a bit of the ciphertext flips the
// same bit of the plaintext. That is why ranged reads are refused unless
// Options.EnableUnauthenticatedRanges is set, and the example ends by
// showing the attack.
//
//	go -C examples run ./rangedread
//
// It uses the in-process S3 test server unless S3EC_EXAMPLE_BUCKET names a
// real bucket.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
	"github.com/s3ec/s3ec-go/materials"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal("rangedread: ", err)
	}
}

// lineLen is the length of each line of the example's ledger.
const lineLen = 32

func run(ctx context.Context, w io.Writer) error {
	env, err := exampleenv.Open(ctx, w, "rangedread")
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

	// A ledger of 64 fixed-width lines ("account 0001 balance    100.00"),
	// so that byte offsets are easy to follow.
	var ledger bytes.Buffer
	for i := 1; i <= 64; i++ {
		fmt.Fprintf(&ledger, "account %04d balance %10.2f\n", i, float64(i*100))
	}
	plaintext := ledger.Bytes()
	bucket, key := env.Bucket, env.Key("ledger.txt")
	writer, err := encryptionclient.New(env.S3, keyring)
	if err != nil {
		return err
	}
	if _, err := writer.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(plaintext),
	}); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote s3://%s/%s: %d bytes, %d lines\n", bucket, key, len(plaintext), len(plaintext)/lineLen)

	// 1. By default a range is refused with a policy error naming the
	//    option that allows it.
	_, err = writer.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String("bytes=0-31")})
	if !errors.Is(err, encryptionclient.ErrPolicy) {
		return fmt.Errorf("ranged read by default: got %v, want ErrPolicy", err)
	}
	fmt.Fprintf(w, "range with the default options: ErrPolicy\n  %v\n", err)

	// 2. A client that allows them. Only the range's bytes are fetched
	//    (GCM encrypts in counter mode, so decryption can start at any
	//    byte), after a HeadObject for the envelope. The output's
	//    ContentRange and ContentLength describe the plaintext.
	ranged, err := encryptionclient.New(env.S3, keyring, func(o *encryptionclient.Options) {
		o.EnableUnauthenticatedRanges = true
	})
	if err != nil {
		return err
	}
	for _, r := range []string{
		"bytes=64-95", // a-b: the third line
		"bytes=2016-", // a-: from an offset to the end (the last line)
		"bytes=-64",   // -n: the last n bytes (two lines)
	} {
		got, contentRange, err := getRange(ctx, ranged, bucket, key, r)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-12s -> Content-Range %s: %q\n", r, contentRange, got)
	}

	// 3. The attack. Someone who may write to the bucket, but holds no key,
	//    flips bits in the stored ciphertext so that account 3's balance
	//    reads 900.00 instead of 300.00. The body is ciphertext and tag,
	//    byte for byte aligned with the plaintext.
	raw, err := env.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	stored, err := io.ReadAll(raw.Body)
	raw.Body.Close()
	if err != nil {
		return err
	}
	pos := bytes.Index(plaintext, []byte("    300.00")) + 4 // the attacker knows the layout
	stored[pos] ^= '3' ^ '9'
	if _, err := env.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(stored), Metadata: raw.Metadata,
	}); err != nil {
		return err
	}
	got, _, err := getRange(ctx, ranged, bucket, key, "bytes=64-95")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "after tampering, the range reads %q with no error\n", got)

	// A whole-object read checks the tag and refuses the object.
	_, err = ranged.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if !errors.Is(err, encryptionclient.ErrAuthentication) {
		return fmt.Errorf("whole read of the tampered object: got %v, want ErrAuthentication", err)
	}
	fmt.Fprintln(w, "the whole-object read detects it: ErrAuthentication")
	fmt.Fprintln(w, "OK: use ranges only for data whose integrity you do not rely on")
	return nil
}

// getRange reads one range of an object and returns its bytes and the
// plaintext Content-Range.
func getRange(ctx context.Context, c *encryptionclient.Client, bucket, key, r string) ([]byte, string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(r)})
	if err != nil {
		return nil, "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, aws.ToString(out.ContentRange), err
}
