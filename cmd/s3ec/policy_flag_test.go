package main

import (
	"testing"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// --policy takes the short names and the policies' full names.
func TestPolicyFlagNames(t *testing.T) {
	for in, want := range map[string]encryptionclient.CommitmentPolicy{
		"require":                         encryptionclient.RequireEncryptRequireDecrypt,
		"allow":                           encryptionclient.RequireEncryptAllowDecrypt,
		"forbid":                          encryptionclient.ForbidEncryptAllowDecrypt,
		"REQUIRE_ENCRYPT_REQUIRE_DECRYPT": encryptionclient.RequireEncryptRequireDecrypt,
		"require_encrypt_allow_decrypt":   encryptionclient.RequireEncryptAllowDecrypt,
		"FORBID_ENCRYPT_ALLOW_DECRYPT":    encryptionclient.ForbidEncryptAllowDecrypt,
	} {
		c := cryptoFlags{policy: in, suffix: ".instruction"}
		fn, err := c.options()
		if err != nil {
			t.Errorf("--policy %s: %v", in, err)
			continue
		}
		var o encryptionclient.Options
		fn(&o)
		if o.CommitmentPolicy != want {
			t.Errorf("--policy %s gave %v, want %v", in, o.CommitmentPolicy, want)
		}
	}
	for _, in := range []string{"", "maybe", "ALLOW", "RequireEncryptAllowDecrypt"} {
		c := cryptoFlags{policy: in, suffix: ".instruction"}
		if _, err := c.options(); err == nil || exitCode(err) != exitUsage {
			t.Errorf("--policy %q: %v, want a usage error", in, err)
		}
	}
}
