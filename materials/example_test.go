package materials_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

func ExampleNewAESKeyring() {
	ctx := context.Background()
	// In real code the wrapping key comes from your secret store.
	wrappingKey := make([]byte, 32)
	if _, err := rand.Read(wrappingKey); err != nil {
		log.Fatal(err)
	}
	kr, err := materials.NewAESKeyring(wrappingKey, func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"key-version": "1"}
	})
	if err != nil {
		log.Fatal(err)
	}
	clear(wrappingKey) // the keyring keeps its own copy

	dk, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
	if err != nil {
		log.Fatal(err)
	}
	defer dk.Zero()
	fmt.Println(dk.WrapAlgorithm, len(dk.Ciphertext), dk.Description)

	key, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{
		Suite: envelope.SuiteAESGCMCommitting,
		Key:   dk.EncryptedDataKey,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer materials.Zero(key)
	fmt.Println(bytes.Equal(key, dk.Plaintext))
	// Output:
	// AES/GCM 60 map[key-version:1]
	// true
}

// A key rotation: new objects use version 2, old ones still decrypt with
// version 1, selected by their material description.
func ExampleNewAESKeyring_rotation() {
	ctx := context.Background()
	oldKey := bytes.Repeat([]byte{1}, 32) // in real code: from a secret store
	newKey := bytes.Repeat([]byte{2}, 32)
	v1 := map[string]string{"key-version": "1"}
	v2 := map[string]string{"key-version": "2"}

	before, _ := materials.NewAESKeyring(oldKey, func(o *materials.AESKeyringOptions) { o.MaterialDescription = v1 })
	after, err := materials.NewAESKeyring(newKey, func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = v2
		o.AdditionalKeys = []materials.AESKey{{Key: oldKey, MaterialDescription: v1}}
	})
	if err != nil {
		log.Fatal(err)
	}

	old, _ := before.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
	defer old.Zero()
	key, err := after.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: old.EncryptedDataKey})
	if err != nil {
		log.Fatal(err)
	}
	defer materials.Zero(key)
	fmt.Println("old object:", bytes.Equal(key, old.Plaintext))

	cur, _ := after.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
	defer cur.Zero()
	fmt.Println("new object:", cur.Description)
	// Output:
	// old object: true
	// new object: map[key-version:2]
}

func ExampleNewRSAKeyring() {
	ctx := context.Background()
	// In real code: materials.ParseRSAPrivateKey(pemBytes).
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}

	// A writer needs only the public key.
	writer, err := materials.NewRSAKeyring(&priv.PublicKey, nil)
	if err != nil {
		log.Fatal(err)
	}
	dk, err := writer.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCMCommitting})
	if err != nil {
		log.Fatal(err)
	}
	defer dk.Zero()
	fmt.Println(dk.WrapAlgorithm, len(dk.Ciphertext))

	req := &materials.DecryptionRequest{Suite: envelope.SuiteAESGCMCommitting, Key: dk.EncryptedDataKey}
	if _, err := writer.DecryptDataKey(ctx, req); err != nil {
		fmt.Println("writer:", err)
	}

	reader, err := materials.NewRSAKeyring(nil, priv)
	if err != nil {
		log.Fatal(err)
	}
	key, err := reader.DecryptDataKey(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	defer materials.Zero(key)
	fmt.Println("reader:", bytes.Equal(key, dk.Plaintext))
	// Output:
	// RSA-OAEP-SHA1 256
	// writer: materials: keyring can only encrypt: the RSA keyring has no private key
	// reader: true
}

// Moving from a local AES key to an RSA key pair: new objects are wrapped
// with RSA, old ones still decrypt with the AES key.
func ExampleNewMulti() {
	ctx := context.Background()
	aesKR, err := materials.NewAESKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		log.Fatal(err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	rsaKR, err := materials.NewRSAKeyring(nil, priv)
	if err != nil {
		log.Fatal(err)
	}
	kr := materials.NewMulti(rsaKR, aesKR)

	old, _ := aesKR.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	defer old.Zero()
	cur, _ := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: envelope.SuiteAESGCM})
	defer cur.Zero()

	for _, dk := range []*materials.DataKey{old, cur} {
		key, err := kr.DecryptDataKey(ctx, &materials.DecryptionRequest{Suite: envelope.SuiteAESGCM, Key: dk.EncryptedDataKey})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(dk.WrapAlgorithm, bytes.Equal(key, dk.Plaintext))
		materials.Zero(key)
	}

	// A key no keyring knows: every keyring's error is reported.
	_, err = kr.DecryptDataKey(ctx, &materials.DecryptionRequest{
		Suite: envelope.SuiteAESGCM,
		Key:   materials.EncryptedDataKey{WrapAlgorithm: envelope.WrapKMSContext, Ciphertext: []byte{1}},
	})
	fmt.Println(err)
	// Output:
	// AES/GCM true
	// RSA-OAEP-SHA1 true
	// materials: no keyring could unwrap the data key: materials: wrapped key is not for this keyring: the RSA keyring does not read wrap algorithm "kms+context"; materials: wrapped key is not for this keyring: the AES keyring does not read wrap algorithm "kms+context"
}
