// Command rsa encrypts with an RSA key pair: writers hold only the public
// key, so a service can upload objects that only the holder of the private
// key can read. Each object's data key is wrapped with RSA-OAEP, in the
// format of the AWS S3 Encryption Clients' RSA keyring.
//
// The example writes a key pair as PEM files (as `openssl genpkey` or
// `s3ec keygen` would), loads them, writes an object with an encrypt-only
// client that has just the public key, shows that this client cannot read
// it back, and reads it with the private key.
//
//	go -C examples run ./rsa
//
// It uses the in-process S3 test server unless S3EC_EXAMPLE_BUCKET names a
// real bucket.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
	"github.com/s3ec/s3ec-go/materials"
)

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal("rsa: ", err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	env, err := exampleenv.Open(ctx, w, "rsa")
	if err != nil {
		return err
	}
	defer env.Close()

	// 1. A key pair in PEM files. In real life the private key stays with
	//    the reader and only public.pem is handed to writers.
	dir, err := os.MkdirTemp("", "s3ec-rsa-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pubPath, privPath := filepath.Join(dir, "public.pem"), filepath.Join(dir, "private.pem")
	if err := writeKeyPair(pubPath, privPath); err != nil {
		return err
	}
	fmt.Fprintf(w, "key pair: %s, %s\n", filepath.Base(pubPath), filepath.Base(privPath))

	// 2. The writer loads the public key only. ParseRSAPublicKey takes
	//    PKIX ("PUBLIC KEY"), PKCS #1 and certificates, PEM or DER. The
	//    material description is stored with each object, in clear, to
	//    tell readers which key pair to use.
	pemBytes, err := os.ReadFile(pubPath)
	if err != nil {
		return err
	}
	pub, err := materials.ParseRSAPublicKey(pemBytes)
	if err != nil {
		return err
	}
	desc := func(o *materials.RSAKeyringOptions) {
		o.MaterialDescription = map[string]string{"keypair": "ingest-2026"}
	}
	encryptOnly, err := materials.NewRSAKeyring(pub, nil, desc)
	if err != nil {
		return err
	}
	writer, err := encryptionclient.New(env.S3, encryptOnly)
	if err != nil {
		return err
	}
	plaintext := []byte("sensor 17: 21.4 C, 48% RH\n")
	bucket, key := env.Bucket, env.Key("ingest/sensor-17.txt")
	if _, err := writer.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(plaintext),
	}); err != nil {
		return err
	}
	head, err := env.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote s3://%s/%s with the public key; wrap x-amz-w=%s (RSA-OAEP-SHA1), material description x-amz-m=%s\n",
		bucket, key, head.Metadata["x-amz-w"], head.Metadata["x-amz-m"])

	// 3. The writer cannot read what it wrote: unwrapping needs the
	//    private key. The error is typed, so callers can tell this apart
	//    from a damaged object.
	_, err = writer.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if !errors.Is(err, materials.ErrEncryptOnly) {
		return fmt.Errorf("GetObject with the public key only: got %v, want ErrEncryptOnly", err)
	}
	fmt.Fprintf(w, "reading with the public key only fails (errors.Is ErrEncryptOnly):\n  %v\n", err)

	// 4. The reader loads the private key (PKCS #8 "PRIVATE KEY" or PKCS #1
	//    "RSA PRIVATE KEY"; encrypted PEM is not supported) and reads.
	pemBytes, err = os.ReadFile(privPath)
	if err != nil {
		return err
	}
	priv, err := materials.ParseRSAPrivateKey(pemBytes)
	if err != nil {
		return err
	}
	decrypting, err := materials.NewRSAKeyring(nil, priv, desc)
	if err != nil {
		return err
	}
	reader, err := encryptionclient.New(env.S3, decrypting)
	if err != nil {
		return err
	}
	out, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "read with the private key: %q\n", got)
	if !bytes.Equal(got, plaintext) {
		return errors.New("decrypted text differs from the original")
	}
	fmt.Fprintln(w, "OK: the public key writes, only the private key reads")
	return nil
}

// writeKeyPair generates a 2048-bit RSA key pair (the smallest the keyring
// accepts; 3072 or 4096 bits are stronger, and a 4096-bit wrapped key
// moves the envelope to an instruction file) and writes it as PEM files.
// The private key file gets permissions 0600.
func writeKeyPair(pubPath, privPath string) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
}
