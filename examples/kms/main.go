// Command kms encrypts an object under an AWS KMS key. KMS generates a
// fresh data key for every object and returns it twice: in plaintext, to
// encrypt the object in this process, and encrypted under the KMS key, to
// be stored beside the object. Only a caller whom KMS lets Decrypt can
// read the object back, and every use of the key is authorized and logged
// by KMS.
//
// The example shows the envelope S3 stores, reads the object with the same
// keyring and with a discovery keyring, and counts the KMS calls.
//
//	go -C examples run ./kms
//
// It uses the in-process S3 and KMS test servers unless S3EC_EXAMPLE_BUCKET
// or S3EC_EXAMPLE_KMS_KEY_ID name a real bucket or KMS key.
package main

import (
	"bytes"
	"context"
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
		log.Fatal("kms: ", err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	env, err := exampleenv.Open(ctx, w, "kms")
	if err != nil {
		return err
	}
	defer env.Close()
	if err := env.UseKMS(ctx, w); err != nil {
		return err
	}

	// 1. A KMS keyring for one key. The key id may be a key id, a key ARN,
	//    an alias (alias/NAME) or an alias ARN. With AWS the KMS client is
	//    kms.NewFromConfig(cfg).
	keyring, err := materials.NewKMSKeyring(env.KMS, env.KMSKeyID)
	if err != nil {
		return err
	}
	client, err := encryptionclient.New(env.S3, keyring)
	if err != nil {
		return err
	}

	// 2. Write an object: one GenerateDataKey call, then AES-256-GCM here.
	plaintext := []byte("employee,amount\nada,4200\ngrace,4300\n")
	bucket, key := env.Bucket, env.Key("payroll/2026-05.csv")
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(plaintext),
	}); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote s3://%s/%s (%d bytes)\n", bucket, key, len(plaintext))

	// 3. The envelope, as a plain S3 client sees it. x-amz-3 is the data
	//    key as KMS encrypted it (useless without KMS), x-amz-w 12 names
	//    the kms+context wrap, and x-amz-t is the encryption context KMS
	//    bound the data key to. Even without a context of yours it holds
	//    aws:x-amz-cek-alg, the content algorithm: KMS will not unwrap the
	//    key for any other algorithm, so it cannot be replayed on a weaker
	//    one. The context is stored in clear: it is not a secret.
	head, err := env.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "envelope metadata stored by S3:")
	exampleenv.PrintMetadata(w, head.Metadata)
	fmt.Fprintf(w, "encryption context bound by KMS (x-amz-t): %s\n", head.Metadata["x-amz-t"])

	// 4. Read it back with the same keyring: one Decrypt call.
	if err := readAndCompare(ctx, w, client, bucket, key, plaintext, "KMS keyring"); err != nil {
		return err
	}

	// 5. A discovery keyring reads objects without being told which KMS key
	//    wrapped them: KMS finds the key from the wrapped key itself. Limit
	//    it to the key ARNs you trust; it can only decrypt.
	discovery, err := materials.NewKMSDiscoveryKeyring(env.KMS, func(o *materials.KMSDiscoveryOptions) {
		o.AllowedKeyARNs = []string{env.KMSKeyARN}
	})
	if err != nil {
		return err
	}
	reader, err := encryptionclient.New(env.S3, discovery)
	if err != nil {
		return err
	}
	if err := readAndCompare(ctx, w, reader, bucket, key, plaintext, "discovery keyring"); err != nil {
		return err
	}
	_, err = reader.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(env.Key("other.txt")), Body: strings.NewReader("x"),
	})
	if !errors.Is(err, materials.ErrDecryptOnly) {
		return fmt.Errorf("PutObject with a discovery keyring: got %v, want ErrDecryptOnly", err)
	}
	fmt.Fprintln(w, "writing with the discovery keyring fails: ErrDecryptOnly")

	// 6. What KMS saw (the test server counts calls; AWS logs them in
	//    CloudTrail).
	if env.KMSServer != nil {
		fmt.Fprintf(w, "KMS calls: GenerateDataKey %d, Decrypt %d\n",
			env.KMSServer.Calls("GenerateDataKey"), env.KMSServer.Calls("Decrypt"))
	}
	fmt.Fprintln(w, "OK: written and read under the KMS key")
	return nil
}

// readAndCompare reads an object through an encryption client and checks
// it against the plaintext.
func readAndCompare(ctx context.Context, w io.Writer, c *encryptionclient.Client, bucket, key string, want []byte, how string) error {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("read with the %s: plaintext differs", how)
	}
	fmt.Fprintf(w, "read with the %s: %d bytes, %q...\n", how, len(got), got[:16])
	return nil
}
