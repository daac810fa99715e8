// Command awsinterop reads objects that AWS's own S3 Encryption Clients
// wrote. The repository keeps such objects as test vectors
// (testdata/vectors): the exact bytes and metadata each client stored in
// S3, and the KMS data key or local key needed to read them. The example
// stores three of them in S3 with a plain client, exactly as their writers
// left them, and reads them back with this library:
//
//   - a V2-format object from the AWS S3 Encryption Client for Go v3
//     (KMS, with an encryption context),
//   - a V3-format, key-committing object from the Go client v4 (KMS, with
//     an encryption context),
//   - a V3-format object from the Java client's RSA keyring (reproduced
//     with the JDK's own cryptography).
//
// The other direction, AWS's clients reading what this library writes, is
// tested by the separate module in interop/ (scripts/interop.sh).
//
//	go -C examples run ./awsinterop
//
// KMS is always the in-process test server, into which the vectors' data
// keys are imported: AWS KMS cannot import them. S3 is the in-process test
// server unless S3EC_EXAMPLE_BUCKET names a real bucket.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/examples/internal/exampleenv"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// The vectors to read, and who wrote them.
var picks = []struct{ name, writer string }{
	{"v3go-v2format-gcm-kmsctx-ctx-4096", "AWS S3EC Go v3.1.0"},
	{"v4go-v3format-commitkey-kmsctx-ctx-4096", "AWS S3EC Go v4"},
	{"jce-rsa2048-v3-md-4096", "Java S3EC v4 RsaKeyring (JCE)"},
}

func main() {
	log.SetFlags(0)
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal("awsinterop: ", err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	env, err := exampleenv.Open(ctx, w, "awsinterop")
	if err != nil {
		return err
	}
	defer env.Close()
	kmsServer := kmstest.NewServer()
	defer kmsServer.Close()
	fmt.Fprintln(w, "KMS: in-process test server, holding the vectors' data keys")

	all, err := testvectors.Load(testvectors.Dir())
	if err != nil {
		return err
	}
	var rsaKeyring *materials.RSAKeyring
	for _, p := range picks {
		v := find(all, p.name)
		if v == nil {
			return fmt.Errorf("vector %s not found in %s", p.name, testvectors.Dir())
		}
		// 1. Store the object as its writer left it: the same body bytes
		//    and the same user metadata, through a plain S3 client.
		ciphertext, err := v.Ciphertext()
		if err != nil {
			return err
		}
		if _, err := env.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(env.Bucket), Key: aws.String(env.Key(v.Name)),
			Body: bytes.NewReader(ciphertext), Metadata: v.Metadata,
		}); err != nil {
			return err
		}
		// 2. Give the key service what the writer's KMS held: the wrapped
		//    data key, the encryption context it is bound to, and the
		//    plaintext key KMS Decrypt returns for it.
		for _, k := range v.KMS {
			blob, err := base64.StdEncoding.DecodeString(k.CiphertextBlobB64)
			if err != nil {
				return err
			}
			dataKey, err := base64.StdEncoding.DecodeString(k.PlaintextKeyB64)
			if err != nil {
				return err
			}
			kmsServer.ImportDataKey(k.KeyID, blob, k.EncryptionContext, dataKey)
		}
		// Local keyring vectors carry their key pair as PEM.
		if v.Keyring != nil && v.Keyring.Type == "rsa" {
			priv, err := materials.ParseRSAPrivateKey([]byte(v.Keyring.PrivateKeyPEM))
			if err != nil {
				return err
			}
			if rsaKeyring, err = materials.NewRSAKeyring(nil, priv); err != nil {
				return err
			}
		}
	}

	// 3. One client reads them all: a multi keyring tries a KMS discovery
	//    keyring (which reads data keys of any KMS key; limit it with
	//    AllowedKeyARNs in production) and the RSA keyring. The default
	//    commitment policy reads only key-committing V3 objects; reading
	//    the V2 object needs RequireEncryptAllowDecrypt, which still writes
	//    V3.
	discovery, err := materials.NewKMSDiscoveryKeyring(kmsServer.Client())
	if err != nil {
		return err
	}
	client, err := encryptionclient.New(env.S3, materials.NewMulti(nil, discovery, rsaKeyring), func(o *encryptionclient.Options) {
		o.CommitmentPolicy = encryptionclient.RequireEncryptAllowDecrypt
	})
	if err != nil {
		return err
	}

	// 4. Read each object and compare its SHA-256 with the plaintext's.
	for _, p := range picks {
		v := find(all, p.name)
		fmt.Fprintf(w, "%s, written by %s\n", v.Name, p.writer)
		fmt.Fprintf(w, "  format %s, wrap %s, metadata %s\n", v.Format, v.WrapAlgorithm, strings.Join(slices.Sorted(maps.Keys(v.Metadata)), " "))
		// The objects written with an encryption context are read with it.
		readCtx := ctx
		if v.UserEncryptionContext != nil {
			readCtx = encryptionclient.WithEncryptionContext(ctx, v.UserEncryptionContext)
			fmt.Fprintf(w, "  encryption context %v\n", v.UserEncryptionContext)
		}
		out, err := client.GetObject(readCtx, &s3.GetObjectInput{Bucket: aws.String(env.Bucket), Key: aws.String(env.Key(v.Name))})
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, out.Body)
		out.Body.Close()
		if err != nil {
			return err
		}
		sum := hex.EncodeToString(h.Sum(nil))
		if n != v.PlaintextRef.Size || sum != v.PlaintextRef.SHA256 {
			return fmt.Errorf("%s: read %d bytes with SHA-256 %s, want %d bytes with %s", v.Name, n, sum, v.PlaintextRef.Size, v.PlaintextRef.SHA256)
		}
		fmt.Fprintf(w, "  read %d bytes, SHA-256 %s... matches the writer's plaintext\n", n, sum[:16])
	}
	fmt.Fprintf(w, "OK: read %d objects written by AWS's clients\n", len(picks))
	return nil
}

func find(all []*testvectors.Vector, name string) *testvectors.Vector {
	for _, v := range all {
		if v.Name == name {
			return v
		}
	}
	return nil
}
