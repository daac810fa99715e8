package envelope_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"

	"github.com/s3ec/s3ec-go/envelope"
)

// Rendering a new V3 envelope and reading it back.
func ExampleDecode() {
	dataKey := bytes.Repeat([]byte{7}, 32) // from a keyring in real use
	env, params, err := envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, envelope.WrapAESGCM,
		[]byte("wrapped-data-key"), map[string]string{"purpose": "demo"}, dataKey, 5)
	if err != nil {
		log.Fatal(err)
	}
	defer params.Zero()
	meta, err := env.Metadata()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(meta["x-amz-c"], meta["x-amz-w"], meta["x-amz-m"])

	got, err := envelope.Decode(meta, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Format, got.Suite, got.WrapAlgorithm)
	// Output:
	// 115 02 {"purpose":"demo"}
	// V3 ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY AES/GCM
}

// Policies are checked before any key is unwrapped.
func ExamplePolicy_CheckDecrypt() {
	var strict envelope.Policy // the default: key-committing objects only
	err := strict.CheckDecrypt(envelope.SuiteAESGCM)
	fmt.Println(errors.Is(err, envelope.ErrPolicy))
	fmt.Println(err)

	migrating := envelope.Policy{Commitment: envelope.RequireEncryptAllowDecrypt}
	fmt.Println(migrating.CheckDecrypt(envelope.SuiteAESGCM))
	// Output:
	// true
	// envelope: refused by policy: non-committing content algorithm AES/GCM/NoPadding under REQUIRE_ENCRYPT_REQUIRE_DECRYPT (to allow it, set envelope.Policy.Commitment to REQUIRE_ENCRYPT_ALLOW_DECRYPT)
	// <nil>
}

// Plaintext ranges of a GCM object map to the same body bytes.
func ExampleParseRange() {
	r, err := envelope.ParseRange("bytes=-10", 1000)
	if err != nil {
		log.Fatal(err)
	}
	body, counter, skip := envelope.CiphertextRange(r)
	fmt.Println(r.ContentRange(1000), body.First, counter, skip)
	// Output: bytes 990-999/1000 990 63 14
}
