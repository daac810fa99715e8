package envelope_test

import (
	"encoding"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

var allPolicies = []envelope.CommitmentPolicy{
	envelope.RequireEncryptRequireDecrypt,
	envelope.RequireEncryptAllowDecrypt,
	envelope.ForbidEncryptAllowDecrypt,
}

var (
	_ encoding.TextMarshaler   = envelope.CommitmentPolicy(0)
	_ encoding.TextUnmarshaler = (*envelope.CommitmentPolicy)(nil)
)

func TestCommitmentPolicyRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range allPolicies {
		name := p.String()
		if seen[name] || strings.HasPrefix(name, "CommitmentPolicy(") {
			t.Fatalf("%d: name %q is not a policy name of its own", int(p), name)
		}
		seen[name] = true
		for _, s := range []string{name, strings.ToLower(name)} {
			got, err := envelope.ParseCommitmentPolicy(s)
			if err != nil || got != p {
				t.Errorf("ParseCommitmentPolicy(%q) = %v, %v; want %v", s, got, err, p)
			}
		}
		text, err := p.MarshalText()
		if err != nil || string(text) != name {
			t.Errorf("%v.MarshalText() = %q, %v", p, text, err)
		}
		var back envelope.CommitmentPolicy = 99
		if err := back.UnmarshalText(text); err != nil || back != p {
			t.Errorf("UnmarshalText(%q) = %v, %v", text, back, err)
		}
	}
}

func TestParseCommitmentPolicyUnknown(t *testing.T) {
	for _, s := range []string{
		"", "require", "allow", "forbid", "0", "1",
		" REQUIRE_ENCRYPT_ALLOW_DECRYPT", "REQUIRE_ENCRYPT_ALLOW_DECRYPT\n",
		"REQUIRE-ENCRYPT-ALLOW-DECRYPT", "RequireEncryptAllowDecrypt",
		"CommitmentPolicy(1)", "REQUIRE_ENCRYPT_ALLOW_DECRYPT_",
	} {
		p, err := envelope.ParseCommitmentPolicy(s)
		var ne *envelope.CommitmentPolicyNameError
		if !errors.As(err, &ne) || ne.Name != s || p != 0 {
			t.Errorf("ParseCommitmentPolicy(%q) = %v, %v; want a *CommitmentPolicyNameError", s, p, err)
			continue
		}
		for _, want := range allPolicies {
			if !strings.Contains(err.Error(), want.String()) {
				t.Errorf("error %q does not list %v", err, want)
			}
		}
		// A failed UnmarshalText leaves the value alone.
		v := envelope.ForbidEncryptAllowDecrypt
		if err := v.UnmarshalText([]byte(s)); !errors.As(err, &ne) || v != envelope.ForbidEncryptAllowDecrypt {
			t.Errorf("UnmarshalText(%q) = %v, value %v", s, err, v)
		}
	}
}

func TestCommitmentPolicyInvalidValue(t *testing.T) {
	for _, p := range []envelope.CommitmentPolicy{-1, 3, 7} {
		if got, want := p.String(), fmt.Sprintf("CommitmentPolicy(%d)", int(p)); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
		if text, err := p.MarshalText(); err == nil {
			t.Errorf("%d: MarshalText = %q, want an error", int(p), text)
		}
		if _, err := json.Marshal(p); err == nil {
			t.Errorf("%d: json.Marshal succeeded", int(p))
		}
	}
}

func TestCommitmentPolicyJSON(t *testing.T) {
	type config struct {
		Policy envelope.CommitmentPolicy `json:"policy"`
	}
	for _, p := range allPolicies {
		b, err := json.Marshal(config{Policy: p})
		if want := `{"policy":"` + p.String() + `"}`; err != nil || string(b) != want {
			t.Fatalf("json.Marshal = %s, %v; want %s", b, err, want)
		}
		var c config
		if err := json.Unmarshal(b, &c); err != nil || c.Policy != p {
			t.Fatalf("json.Unmarshal(%s) = %v, %v", b, c.Policy, err)
		}
	}
	var c config
	if err := json.Unmarshal([]byte(`{"policy":"require_encrypt_allow_decrypt"}`), &c); err != nil || c.Policy != envelope.RequireEncryptAllowDecrypt {
		t.Fatalf("lower-case name: %v, %v", c.Policy, err)
	}
	err := json.Unmarshal([]byte(`{"policy":"ALLOW"}`), &c)
	var ne *envelope.CommitmentPolicyNameError
	if !errors.As(err, &ne) || ne.Name != "ALLOW" {
		t.Fatalf("unknown name: %v", err)
	}
	// A number is not a policy: the text form is the only one.
	if err := json.Unmarshal([]byte(`{"policy":1}`), &c); err == nil {
		t.Fatal("a number was accepted")
	}
}

func TestCommitmentPolicyTextVar(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want envelope.CommitmentPolicy
		bad  bool
	}{
		{nil, envelope.RequireEncryptRequireDecrypt, false},
		{[]string{"-policy", "REQUIRE_ENCRYPT_ALLOW_DECRYPT"}, envelope.RequireEncryptAllowDecrypt, false},
		{[]string{"-policy=forbid_encrypt_allow_decrypt"}, envelope.ForbidEncryptAllowDecrypt, false},
		{[]string{"-policy", "allow"}, 0, true},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var p envelope.CommitmentPolicy
		fs.TextVar(&p, "policy", envelope.RequireEncryptRequireDecrypt, "commitment policy")
		err := fs.Parse(tc.args)
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), "REQUIRE_ENCRYPT_ALLOW_DECRYPT") {
				t.Errorf("%q: error %v, want one that lists the policies", tc.args, err)
			}
			continue
		}
		if err != nil || p != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.args, p, err, tc.want)
		}
		if got := fs.Lookup("policy").DefValue; got != "REQUIRE_ENCRYPT_REQUIRE_DECRYPT" {
			t.Errorf("default shown as %q", got)
		}
	}
}

// A commitment policy read from a configuration file.
func ExampleParseCommitmentPolicy() {
	p, err := envelope.ParseCommitmentPolicy("REQUIRE_ENCRYPT_ALLOW_DECRYPT")
	fmt.Println(p == envelope.RequireEncryptAllowDecrypt, err)

	_, err = envelope.ParseCommitmentPolicy("ALLOW")
	fmt.Println(err)

	var config struct{ Policy envelope.CommitmentPolicy }
	err = json.Unmarshal([]byte(`{"Policy": "FORBID_ENCRYPT_ALLOW_DECRYPT"}`), &config)
	fmt.Println(config.Policy, err)
	// Output:
	// true <nil>
	// envelope: unknown commitment policy "ALLOW": want REQUIRE_ENCRYPT_REQUIRE_DECRYPT, REQUIRE_ENCRYPT_ALLOW_DECRYPT, FORBID_ENCRYPT_ALLOW_DECRYPT
	// FORBID_ENCRYPT_ALLOW_DECRYPT <nil>
}

// The errors of a Policy name its settings; a package that builds the
// Policy from options of its own names those instead.
func TestPolicyErrorNames(t *testing.T) {
	named := envelope.PolicyNames{Commitment: "app.Config.Commitment", LegacyUnauthenticated: "app.Config.ReadCBC"}
	for _, tc := range []struct {
		err     error
		setting envelope.PolicySetting
		want    []string
	}{
		{envelope.Policy{}.CheckDecrypt(envelope.SuiteAESGCM), envelope.SettingCommitment,
			[]string{"under REQUIRE_ENCRYPT_REQUIRE_DECRYPT", "(to allow it, set envelope.Policy.Commitment to REQUIRE_ENCRYPT_ALLOW_DECRYPT)"}},
		{envelope.Policy{Names: named}.CheckDecrypt(envelope.SuiteAESGCM), envelope.SettingCommitment,
			[]string{"(to allow it, set app.Config.Commitment to REQUIRE_ENCRYPT_ALLOW_DECRYPT)"}},
		{envelope.Policy{Commitment: envelope.RequireEncryptAllowDecrypt}.CheckDecrypt(envelope.SuiteAESCBC), envelope.SettingLegacyUnauthenticated,
			[]string{"AES/CBC/PKCS5Padding", "(to allow it, set envelope.Policy.LegacyUnauthenticated)"}},
		{envelope.Policy{Commitment: envelope.RequireEncryptAllowDecrypt, Names: named}.CheckDecrypt(envelope.SuiteAESCBC), envelope.SettingLegacyUnauthenticated,
			[]string{"(to allow it, set app.Config.ReadCBC)"}},
		{envelope.Policy{LegacyUnauthenticated: true, Names: named}.Validate(), envelope.SettingCommitment,
			[]string{"app.Config.ReadCBC needs a commitment policy that reads non-committing objects, not REQUIRE_ENCRYPT_REQUIRE_DECRYPT", "set app.Config.Commitment to REQUIRE_ENCRYPT_ALLOW_DECRYPT"}},
		{envelope.Policy{Commitment: 9, Names: named}.Validate(), envelope.SettingCommitment,
			[]string{"app.Config.Commitment is 9, not a commitment policy", "FORBID_ENCRYPT_ALLOW_DECRYPT"}},
	} {
		var pe *envelope.PolicyError
		if !errors.As(tc.err, &pe) || !errors.Is(tc.err, envelope.ErrPolicy) || pe.Setting != tc.setting {
			t.Errorf("%v: want a PolicyError of setting %v", tc.err, tc.setting)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(tc.err.Error(), w) {
				t.Errorf("%q does not say %q", tc.err, w)
			}
		}
		if strings.Contains(strings.Join(tc.want, " "), "app.Config") && strings.Contains(tc.err.Error(), "envelope.Policy.") {
			t.Errorf("%q names a Policy field although the Policy has names", tc.err)
		}
	}
}
