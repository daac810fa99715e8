package main

// This file is the quickstart itself: copy it into your own module (it
// imports only public packages: the AWS SDK and s3ec-go's encryptionclient,
// materials and envelope) and call Quickstart with your *s3.Client. main.go
// only sets up an S3 to run it against.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// Quickstart writes plaintext to s3://bucket/key through the encryption
// client, prints what S3 stored (the ciphertext, and the envelope in the
// object's metadata with what each entry means), reads it back decrypted,
// and checks the round trip. plain is an ordinary SDK client for any S3.
func Quickstart(ctx context.Context, w io.Writer, plain *s3.Client, bucket, key string, plaintext []byte) error {
	// 1. A local 256-bit master key. Keep real keys in a key manager (or use
	//    materials.NewKMSKeyring with AWS KMS).
	masterKey := make([]byte, 32)
	if _, err := rand.Read(masterKey); err != nil {
		return err
	}
	keyring, err := materials.NewAESKeyring(masterKey, func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"key": "quickstart-2026"}
	})
	clear(masterKey) // the keyring keeps its own copy
	if err != nil {
		return err
	}

	// 2. The encryption client wraps the plain client.
	client, err := encryptionclient.New(plain, keyring)
	if err != nil {
		return err
	}

	// 3. Upload: encrypted in this process, streamed to S3.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(plaintext),
		ContentType: aws.String("text/plain"),
	}); err != nil {
		return err
	}

	// 4. What S3 stored, read with the plain client.
	raw, err := plain.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	stored, err := io.ReadAll(raw.Body)
	raw.Body.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "S3 stored s3://%s/%s: %d bytes (%d of plaintext + a %d-byte tag)\n", bucket, key, len(stored), len(plaintext), envelope.TagSize)
	fmt.Fprintf(w, "  ciphertext: %s\n", preview(stored))
	env, err := envelope.Decode(raw.Metadata, nil)
	if err != nil {
		return fmt.Errorf("reading the envelope S3 stored: %w", err)
	}
	fmt.Fprintf(w, "  envelope (%s format), in the object's metadata:\n", env.Format)
	for _, name := range slices.Sorted(maps.Keys(raw.Metadata)) {
		fmt.Fprintf(w, "    x-amz-meta-%s: %s\n", name, shorten(raw.Metadata[name]))
		if meaning := explain(name, env); meaning != "" {
			fmt.Fprintf(w, "        %s\n", meaning)
		}
	}

	// 5. Download through the encryption client: authenticated, then
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
		return errors.New("decrypted text differs from the original")
	}
	if bytes.Contains(stored, plaintext[:min(len(plaintext), 16)]) {
		return errors.New("the stored object contains plaintext")
	}
	fmt.Fprintln(w, "OK: the round trip matches and S3 only ever saw ciphertext")
	return nil
}

// explain says what the envelope entry name holds, from the decoded
// envelope (the algorithms' names are the envelope package's).
func explain(name string, env *envelope.Envelope) string {
	switch name {
	case envelope.KeyV3Content, envelope.KeyCEKAlg:
		cipher, commits := "AES-256-CBC, not authenticated", "does not commit to its key"
		if env.Suite.Authenticated() {
			cipher = "AES-256-GCM"
		}
		if env.Suite.Committing() {
			commits = "commits to its data key"
		}
		return fmt.Sprintf("content suite %s: %s, %s", env.Suite, cipher, commits)
	case envelope.KeyV3Wrap, envelope.KeyWrapAlg:
		return fmt.Sprintf("wrap algorithm %s: how the data key was encrypted by the keyring", env.WrapAlgorithm)
	case envelope.KeyV3WrappedKey, envelope.KeyV2WrappedKey:
		return fmt.Sprintf("the data key, wrapped (%d bytes): only the keyring's key opens it", len(env.EncryptedKey))
	case envelope.KeyV3Commitment:
		return fmt.Sprintf("key commitment (%d bytes): binds the object to that one data key", len(env.Commitment))
	case envelope.KeyV3MessageID:
		return fmt.Sprintf("message id (%d bytes): the salt from which the content key is derived", len(env.MessageID))
	case envelope.KeyV3MatDesc, envelope.KeyMatDesc:
		if env.WrapAlgorithm.IsKMS() {
			return fmt.Sprintf("KMS encryption context %v", env.Description)
		}
		return fmt.Sprintf("material description %v: by which readers choose their key", env.Description)
	case envelope.KeyV3Context:
		return fmt.Sprintf("KMS encryption context %v", env.Description)
	case envelope.KeyIV:
		return fmt.Sprintf("content IV (%d bytes)", len(env.IV))
	case envelope.KeyUnencryptedLength:
		return "the plaintext length (informational: not authenticated)"
	}
	return ""
}

// shorten cuts long metadata values for display.
func shorten(v string) string {
	if len(v) > 60 {
		return v[:57] + "..."
	}
	return v
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
