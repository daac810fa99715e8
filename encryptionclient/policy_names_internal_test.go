package encryptionclient

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
)

// The refusals of the read policy name the Options fields that allow what
// was refused, never the envelope.Policy fields behind them.
func TestPolicyErrorsNameOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		s    envelope.Suite
		want string
	}{
		{Options{}, envelope.SuiteAESGCM, "(to allow it, set encryptionclient.Options.CommitmentPolicy to REQUIRE_ENCRYPT_ALLOW_DECRYPT)"},
		{Options{}, envelope.SuiteAESCBC, "(to allow it, set encryptionclient.Options.CommitmentPolicy to REQUIRE_ENCRYPT_ALLOW_DECRYPT)"},
		{Options{CommitmentPolicy: RequireEncryptAllowDecrypt}, envelope.SuiteAESCBC, "(to allow it, set encryptionclient.Options.EnableLegacyUnauthenticatedModes)"},
		{Options{CommitmentPolicy: ForbidEncryptAllowDecrypt}, envelope.SuiteAESCBC, "(to allow it, set encryptionclient.Options.EnableLegacyUnauthenticatedModes)"},
	} {
		err := tc.opts.policy().CheckDecrypt(tc.s)
		var pe *envelope.PolicyError
		if !errors.As(err, &pe) || !strings.HasSuffix(err.Error(), tc.want) || strings.Contains(err.Error(), "Policy.") {
			t.Errorf("%v under %v: %v; want it to end in %q", tc.s, tc.opts.CommitmentPolicy, err, tc.want)
		}
	}
}
