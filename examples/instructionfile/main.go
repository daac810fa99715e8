// Command instructionfile stores an object's envelope in an instruction
// file: a small JSON object at KEY.instruction beside the encrypted
// object, as the AWS S3 Encryption Clients do when asked to. The client
// does it by itself when the envelope would not fit S3's 2 KB of user
// metadata (a large encryption context, an RSA-4096 wrapped key). Asking
// for it always lets the data key be re-wrapped later by rewriting only
// the small instruction file instead of copying the whole object.
//
// The example shows what stays on the object (in the V3 format the content
// keys x-amz-c, x-amz-d and x-amz-i, which the format requires there), the
// instruction file's body, and that DeleteObject removes both.
//
//	go -C examples run ./instructionfile
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
		log.Fatal("instructionfile: ", err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	env, err := exampleenv.Open(ctx, w, "instructionfile")
	if err != nil {
		return err
	}
	defer env.Close()

	// A local AES key keeps the example self-contained; instruction files
	// work the same with every keyring.
	masterKey := make([]byte, 32)
	if _, err := rand.Read(masterKey); err != nil {
		return err
	}
	keyring, err := materials.NewAESKeyring(masterKey, func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"key": "archive-2026"}
	})
	if err != nil {
		return err
	}

	// 1. Ask for instruction files. The default, StoreAuto, uses them only
	//    when the envelope does not fit the metadata.
	client, err := encryptionclient.New(env.S3, keyring, func(o *encryptionclient.Options) {
		o.EnvelopeStorage = encryptionclient.StoreInstructionFile
	})
	if err != nil {
		return err
	}
	plaintext := []byte("Minutes of the board meeting, 3 March 2026.\n")
	bucket, key := env.Bucket, env.Key("archive/minutes.txt")
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(plaintext),
	}); err != nil {
		return err
	}

	// 2. What S3 holds, through a plain client: the object's metadata...
	head, err := env.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "s3://%s/%s: %d bytes, metadata:\n", bucket, key, aws.ToInt64(head.ContentLength))
	exampleenv.PrintMetadata(w, head.Metadata)

	// ...and the instruction file: the wrapped key (x-amz-3), its wrap
	// algorithm (x-amz-w) and material description (x-amz-m).
	instrKey := key + ".instruction"
	instr, err := env.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(instrKey)})
	if err != nil {
		return err
	}
	body, err := io.ReadAll(instr.Body)
	instr.Body.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "s3://%s/%s:\n    %s\n", bucket, instrKey, body)

	// 3. Reading needs nothing special: the client finds the instruction
	//    file when the metadata lacks the wrapped key. HeadObject through
	//    the client reports the plaintext size.
	enc, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, plaintext) {
		return errors.New("decrypted text differs from the original")
	}
	fmt.Fprintf(w, "read through the client: %d bytes (HeadObject says %d): %q\n", len(got), aws.ToInt64(enc.ContentLength), got)

	// 4. DeleteObject through the client deletes the instruction file too;
	//    a plain client would leave it behind.
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return err
	}
	list, err := env.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(env.Key("archive/"))})
	if err != nil {
		return err
	}
	var left []string
	for _, o := range list.Contents {
		left = append(left, aws.ToString(o.Key))
	}
	if len(left) > 0 {
		return fmt.Errorf("after DeleteObject, still stored: %s", strings.Join(left, ", "))
	}
	fmt.Fprintln(w, "deleted through the client: the object and its instruction file are gone")
	fmt.Fprintln(w, "OK: the envelope lived in the instruction file")
	return nil
}
