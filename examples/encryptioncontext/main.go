// Command encryptioncontext binds an encryption context to an object: a
// map of strings, given per request, that KMS ties to the object's data
// key. KMS unwraps the key only under the same context, and GetObject
// checks that the stored context is the one the caller expects, so an
// object of one tenant cannot be served as another's, even by someone who
// can rewrite the object's metadata.
//
//	go -C examples run ./encryptioncontext
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
	"maps"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
	"github.com/s3ec/s3ec-go/materials"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal("encryptioncontext: ", err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	env, err := exampleenv.Open(ctx, w, "encryptioncontext")
	if err != nil {
		return err
	}
	defer env.Close()
	if err := env.UseKMS(ctx, w); err != nil {
		return err
	}
	// Only KMS keyrings can bind a context: local AES and RSA keyrings
	// refuse one with materials.ErrContextNotSupported.
	keyring, err := materials.NewKMSKeyring(env.KMS, env.KMSKeyID)
	if err != nil {
		return err
	}
	client, err := encryptionclient.New(env.S3, keyring)
	if err != nil {
		return err
	}
	bucket, key := env.Bucket, env.Key("invoices/acme/2026-0042.json")
	plaintext := []byte(`{"invoice":"2026-0042","total":"1234.50"}`)

	// 1. The context travels in the request's context.Context, because the
	//    client's methods keep the S3 SDK's signatures.
	acme := map[string]string{"tenant": "acme", "purpose": "invoice"}
	if _, err := client.PutObject(encryptionclient.WithEncryptionContext(ctx, acme), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(plaintext),
	}); err != nil {
		return err
	}
	// It is stored in clear, in x-amz-t with the client's reserved entry:
	// a context is for binding and auditing (KMS logs it), never for
	// secrets.
	head, err := env.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote s3://%s/%s with context %v\n  stored x-amz-t: %s\n", bucket, key, acme, head.Metadata["x-amz-t"])

	// 2. Reading with the same context works.
	got, err := get(encryptionclient.WithEncryptionContext(ctx, acme), client, bucket, key)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, plaintext) {
		return errors.New("decrypted text differs from the original")
	}
	fmt.Fprintf(w, "read with the same context: %s\n", got)

	// 3. Reading with another context, or with none, fails before KMS is
	//    asked anything: the caller must say which context it expects.
	globex := map[string]string{"tenant": "globex", "purpose": "invoice"}
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{
		{"another context " + fmt.Sprint(globex), encryptionclient.WithEncryptionContext(ctx, globex)},
		{"no context", ctx},
	} {
		_, err := get(c.ctx, client, bucket, key)
		if !errors.Is(err, encryptionclient.ErrContextMismatch) {
			return fmt.Errorf("read with %s: got %v, want ErrContextMismatch", c.name, err)
		}
		fmt.Fprintf(w, "read with %s: ErrContextMismatch\n", c.name)
	}
	if env.KMSServer != nil {
		fmt.Fprintf(w, "KMS Decrypt calls so far: %d (the refused reads made none)\n", env.KMSServer.Calls("Decrypt"))
	}

	// 4. Why KMS binds it too: someone with write access to the bucket
	//    rewrites the stored context to globex's. The client's check now
	//    passes for a globex reader, but KMS refuses to unwrap the data key
	//    under a context it was not generated with.
	forged := maps.Clone(head.Metadata)
	forged["x-amz-t"] = strings.Replace(forged["x-amz-t"], `"acme"`, `"globex"`, 1)
	if _, err := env.S3.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), CopySource: aws.String(bucket + "/" + key),
		Metadata: forged, MetadataDirective: types.MetadataDirectiveReplace,
	}); err != nil {
		return err
	}
	_, err = get(encryptionclient.WithEncryptionContext(ctx, globex), client, bucket, key)
	if !errors.Is(err, encryptionclient.ErrUnwrap) {
		return fmt.Errorf("read of the forged object: got %v, want ErrUnwrap", err)
	}
	fmt.Fprintf(w, "forged x-amz-t %s, read as globex: ErrUnwrap (KMS refused)\n", forged["x-amz-t"])

	fmt.Fprintln(w, "OK: the object reads only under the context it was written with")
	return nil
}

// get reads a whole object through the encryption client.
func get(ctx context.Context, c *encryptionclient.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}
