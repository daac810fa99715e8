package materials_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

func ExampleNewKMSKeyring() {
	// A KMS test server stands in for AWS KMS; with AWS, pass
	// kms.NewFromConfig(cfg) and your key's ARN or alias.
	srv := kmstest.NewServer()
	defer srv.Close()
	srv.CreateAlias("alias/photos", srv.CreateKey())
	client := srv.Client()

	kr, err := materials.NewKMSKeyring(client, "alias/photos")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	ec := map[string]string{"department": "finance"}

	// Encrypt side: a new data key, wrapped by KMS and bound to the context.
	dk, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting, EncryptionContext: ec})
	if err != nil {
		log.Fatal(err)
	}
	defer dk.Zero()
	fmt.Println("wrap algorithm:", dk.WrapAlgorithm)
	fmt.Println("stored context:", dk.Description)

	// Decrypt side: the stored wrapped key and the context the reader expects.
	key, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey, EncryptionContext: ec})
	if err != nil {
		log.Fatal(err)
	}
	defer materials.Zero(key)
	fmt.Println("same data key:", bytes.Equal(key, dk.Plaintext))

	// Another expected context is refused before KMS is asked.
	_, err = kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey})
	fmt.Println("without the context:", errors.Is(err, materials.ErrContextMismatch))
	// Output:
	// wrap algorithm: kms+context
	// stored context: map[aws:x-amz-cek-alg:115 department:finance]
	// same data key: true
	// without the context: true
}

func ExampleNewKMSDiscoveryKeyring() {
	srv := kmstest.NewServer()
	defer srv.Close()
	keyA, keyB := srv.CreateKey(), srv.CreateKey()
	client := srv.Client()
	ctx := context.Background()

	// Two writers, each with its own KMS key.
	wrap := func(keyID string) materials.EncryptedDataKey {
		kr, err := materials.NewKMSKeyring(client, keyID)
		if err != nil {
			log.Fatal(err)
		}
		dk, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
		if err != nil {
			log.Fatal(err)
		}
		dk.Zero()
		return dk.EncryptedDataKey
	}
	fromA, fromB := wrap(keyA), wrap(keyB)

	// A reader that accepts data keys of key A only.
	reader, err := materials.NewKMSDiscoveryKeyring(client, func(o *materials.KMSDiscoveryOptions) {
		o.AllowedKeyARNs = []string{keyA}
	})
	if err != nil {
		log.Fatal(err)
	}
	for name, edk := range map[string]materials.EncryptedDataKey{"A": fromA, "B": fromB} {
		key, err := reader.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: edk})
		materials.Zero(key)
		fmt.Printf("key %s: unwrapped=%v not mine=%v\n", name, err == nil, errors.Is(err, materials.ErrNotMine))
	}
	// Unordered output:
	// key A: unwrapped=true not mine=false
	// key B: unwrapped=false not mine=true
}

func ExampleKMSKeyringOptions_enableLegacyWrapping() {
	srv := kmstest.NewServer()
	defer srv.Close()
	keyID := srv.CreateKey()

	// A data key as the AWS SDK for Go v1 EncryptionClient wrote it: legacy
	// "kms" wrap, the material description is the KMS encryption context.
	desc := map[string]string{"kms_cmk_id": keyID}
	plaintext := bytes.Repeat([]byte{0x42}, 32)
	blob := []byte("opaque blob as stored in x-amz-key-v2")
	srv.ImportDataKey(keyID, blob, desc, plaintext)
	req := &materials.DecryptionRequest{
		Suite: envelope.SuiteAESCBC,
		Key:   materials.EncryptedDataKey{WrapAlgorithm: envelope.WrapKMS, Ciphertext: blob, Description: desc},
	}

	strict, err := materials.NewKMSKeyring(srv.Client(), keyID)
	if err != nil {
		log.Fatal(err)
	}
	_, err = strict.DecryptDataKey(context.Background(), req)
	fmt.Println(err)

	legacy, err := materials.NewKMSKeyring(srv.Client(), keyID, func(o *materials.KMSKeyringOptions) {
		o.EnableLegacyWrapping = true
	})
	if err != nil {
		log.Fatal(err)
	}
	key, err := legacy.DecryptDataKey(context.Background(), req)
	fmt.Println(err == nil && bytes.Equal(key, plaintext))
	// Output:
	// envelope: refused by policy: legacy wrapping algorithm kms (to allow it, set materials.KMSKeyringOptions.EnableLegacyWrapping)
	// true
}
