package encryptionclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// Moving an object written by an older S3 Encryption Client (V2, or V1
// with AES-CBC) to the key-committing V3 format under a new data key. The
// client reads with the legacy opt-ins; it writes V3. Running it again on
// the same object writes nothing: ErrAlreadyCurrent. A CBC source, which
// has no authentication tag, needs an explicit opt-in.
func ExampleClient_ReEncrypt() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	keyring, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/example")
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), keyring, func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt // read V2
		o.EnableLegacyUnauthenticatedModes = true                // read V1/CBC
	})
	if err != nil {
		log.Fatal(err)
	}

	in := &encryptionclient.ReEncryptInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("archive/2019.csv"),
	}
	out, err := client.ReEncrypt(ctx, in)
	if errors.Is(err, encryptionclient.ErrUnauthenticatedSource) {
		// AES-CBC has no tag: what is read now is authenticated from then
		// on. Opt in only for objects you trust (ideally after comparing
		// them with an independent checksum).
		in.AllowUnauthenticatedSource = true
		out, err = client.ReEncrypt(ctx, in)
	}
	switch {
	case errors.Is(err, encryptionclient.ErrAlreadyCurrent):
		fmt.Println("already V3 under this key")
	case err != nil:
		log.Fatal(err)
	case !out.SourceAuthenticated:
		fmt.Println(out.From, out.FromSuite, "->", out.To, out.ToSuite, out.Size, "bytes (source unauthenticated: CBC)")
	default:
		fmt.Println(out.From, out.FromSuite, "->", out.To, out.ToSuite, out.Size, "bytes")
	}
}

// Encrypting an object that was stored unencrypted, in place, under a KMS
// key and an encryption context. Readers then need the keyring and the
// context.
func ExampleClient_Adopt() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	keyring, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/example")
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), keyring)
	if err != nil {
		log.Fatal(err)
	}

	out, err := client.Adopt(ctx, &encryptionclient.AdoptInput{
		Bucket: aws.String("example-bucket"), Key: aws.String("uploads/photo.jpg"),
		EncryptionContext: map[string]string{"tenant": "acme"},
	})
	switch {
	case errors.Is(err, encryptionclient.ErrAlreadyEncrypted):
		fmt.Println("already encrypted")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("encrypted as", out.To, "not kept:", out.NotKept)
	}
}

// Checking that an object is intact and readable, without handing its
// plaintext to anyone.
func ExampleClient_VerifyObject() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	keyring, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/example")
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), keyring)
	if err != nil {
		log.Fatal(err)
	}
	out, err := client.VerifyObject(ctx, &s3.GetObjectInput{Bucket: aws.String("example-bucket"), Key: aws.String("report.csv")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Format, out.Suite, "authenticated:", out.Authenticated)
}
