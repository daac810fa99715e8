package encryptionclient_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// The commitment policy comes from a configuration file, by its name in
// the specification; the constants of this package name it in code.
func ExampleParseCommitmentPolicy() {
	var config struct {
		CommitmentPolicy encryptionclient.CommitmentPolicy `json:"commitment_policy"`
	}
	if err := json.Unmarshal([]byte(`{"commitment_policy": "REQUIRE_ENCRYPT_ALLOW_DECRYPT"}`), &config); err != nil {
		log.Fatal(err)
	}
	fmt.Println(config.CommitmentPolicy == encryptionclient.RequireEncryptAllowDecrypt)

	kr, err := materials.NewAESKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		log.Fatal(err)
	}
	// New checks the options; its errors name them.
	_, err = encryptionclient.New(s3.New(s3.Options{Region: "us-east-1"}), kr, func(o *encryptionclient.Options) {
		o.EnableLegacyUnauthenticatedModes = true // reading legacy CBC needs a policy that reads V1/V2
	})
	fmt.Println(err)

	c, err := encryptionclient.New(s3.New(s3.Options{Region: "us-east-1"}), kr, func(o *encryptionclient.Options) {
		o.CommitmentPolicy = config.CommitmentPolicy
		o.EnableLegacyUnauthenticatedModes = true
	})
	fmt.Println(c != nil, err)

	_, err = encryptionclient.ParseCommitmentPolicy("ALLOW")
	fmt.Println(err)
	// Output:
	// true
	// encryptionclient: invalid input: options: envelope: refused by policy: encryptionclient.Options.EnableLegacyUnauthenticatedModes needs a commitment policy that reads non-committing objects, not REQUIRE_ENCRYPT_REQUIRE_DECRYPT (to allow it, set encryptionclient.Options.CommitmentPolicy to REQUIRE_ENCRYPT_ALLOW_DECRYPT)
	// true <nil>
	// envelope: unknown commitment policy "ALLOW": want REQUIRE_ENCRYPT_REQUIRE_DECRYPT, REQUIRE_ENCRYPT_ALLOW_DECRYPT, FORBID_ENCRYPT_ALLOW_DECRYPT
}

// The re-exported policies are envelope's values, and the errors of New
// keep both of their classes.
func TestCommitmentPolicyReexport(t *testing.T) {
	for _, tc := range []struct {
		got, want envelope.CommitmentPolicy
	}{
		{encryptionclient.RequireEncryptRequireDecrypt, envelope.RequireEncryptRequireDecrypt},
		{encryptionclient.RequireEncryptAllowDecrypt, envelope.RequireEncryptAllowDecrypt},
		{encryptionclient.ForbidEncryptAllowDecrypt, envelope.ForbidEncryptAllowDecrypt},
	} {
		if tc.got != tc.want {
			t.Errorf("%v != %v", tc.got, tc.want)
		}
		if p, err := encryptionclient.ParseCommitmentPolicy(tc.want.String()); err != nil || p != tc.want {
			t.Errorf("ParseCommitmentPolicy(%q) = %v, %v", tc.want.String(), p, err)
		}
	}
	kr, err := materials.NewAESKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	_, err = encryptionclient.New(s3.New(s3.Options{Region: "us-east-1"}), kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = 5 })
	var pe *envelope.PolicyError
	if !errors.Is(err, encryptionclient.ErrInvalidInput) || !errors.As(err, &pe) || pe.Setting != envelope.SettingCommitment {
		t.Fatalf("New with an unknown policy: %v", err)
	}
	if want := "encryptionclient.Options.CommitmentPolicy is 5, not a commitment policy"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("%q does not say %q", err, want)
	}
}
