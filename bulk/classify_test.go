package bulk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// sdkErr wraps err the way the SDK returns a service error: an operation
// error around a response error with the HTTP status.
func sdkErr(status int, err error) error {
	return &smithy.OperationError{ServiceID: "KMS", OperationName: "Decrypt", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err},
		RequestID:     "req",
	}}
}

func api(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }

func obj(err error) error {
	return &encryptionclient.ObjectError{Op: "Rewrap", Bucket: "b", Key: "k", Err: err}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status TaskStatus
		code   string
		http   int
	}{
		{nil, Succeeded, "", 200},
		// Temporary.
		{sdkErr(400, api("ThrottlingException")), TemporaryFailure, "ThrottlingException", 400},
		{sdkErr(503, api("SlowDown")), TemporaryFailure, "SlowDown", 503},
		{sdkErr(400, api("RequestLimitExceeded")), TemporaryFailure, "RequestLimitExceeded", 400},
		{sdkErr(400, api("TooManyRequestsException")), TemporaryFailure, "TooManyRequestsException", 400},
		{obj(fmt.Errorf("%w: %w", encryptionclient.ErrUnwrap, sdkErr(400, api("ThrottlingException")))), TemporaryFailure, "ThrottlingException", 400},
		{sdkErr(500, &kmstypes.KMSInternalException{}), TemporaryFailure, "KMSInternalException", 500},
		{sdkErr(500, &kmstypes.DependencyTimeoutException{}), TemporaryFailure, "DependencyTimeoutException", 500},
		{sdkErr(502, errors.New("bad gateway")), TemporaryFailure, "InternalError", 502},
		{sdkErr(400, api("RequestTimeout")), TemporaryFailure, "RequestTimeout", 400},
		{obj(encryptionclient.ErrObjectChanged), TemporaryFailure, "ObjectChanged", 0},
		{sdkErr(409, api("ConditionalRequestConflict")), TemporaryFailure, "ConditionalRequestConflict", 409},
		{obj(fmt.Errorf("%w: version v1", encryptionclient.ErrNotCurrentVersion)), PermanentFailure, "NotCurrentVersion", 0},
		{obj(encryptionclient.ErrTruncated), TemporaryFailure, "Truncated", 0},
		{obj(context.DeadlineExceeded), TemporaryFailure, "Timeout", 0},
		{obj(context.Canceled), TemporaryFailure, "Canceled", 0},
		{obj(&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}), TemporaryFailure, "Timeout", 0},
		{obj(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), TemporaryFailure, "NetworkError", 0},
		{obj(timeoutErr{}), TemporaryFailure, "Timeout", 0},
		// Permanent.
		{obj(encryptionclient.ErrAuthentication), PermanentFailure, "AuthenticationFailed", 0},
		{obj(encryptionclient.ErrCommitmentMismatch), PermanentFailure, "CommitmentMismatch", 0},
		{obj(encryptionclient.ErrPolicy), PermanentFailure, "PolicyRefused", 0},
		{obj(fmt.Errorf("%w: %w", encryptionclient.ErrUnwrap, materials.ErrKMSResponse)), PermanentFailure, "BadKMSResponse", 0},
		{obj(fmt.Errorf("%w: V1 AES/CBC content carries no authentication tag", encryptionclient.ErrUnauthenticatedSource)), PermanentFailure, "UnauthenticatedSource", 0},
		{obj(encryptionclient.ErrMalformed), PermanentFailure, "MalformedEnvelope", 0},
		{obj(encryptionclient.ErrContextMismatch), PermanentFailure, "ContextMismatch", 0},
		{obj(encryptionclient.ErrInvalidInput), PermanentFailure, "InvalidInput", 0},
		{obj(encryptionclient.ErrObjectLocked), PermanentFailure, "ObjectLocked", 0},
		{obj(encryptionclient.ErrFIPS), PermanentFailure, "FIPSRefused", 0},
		{obj(encryptionclient.ErrInstructionFileMismatch), PermanentFailure, "InstructionFileMismatch", 0},
		{obj(encryptionclient.ErrUnwrap), PermanentFailure, "UnwrapFailed", 0},
		{obj(fmt.Errorf("%w: %w", encryptionclient.ErrUnwrap, sdkErr(400, api("AccessDeniedException")))), PermanentFailure, "AccessDeniedException", 400},
		{obj(fmt.Errorf("%w: %w", encryptionclient.ErrUnwrap, sdkErr(400, &kmstypes.InvalidCiphertextException{}))), PermanentFailure, "InvalidCiphertextException", 400},
		{sdkErr(400, &kmstypes.NotFoundException{}), PermanentFailure, "NotFoundException", 400},
		{sdkErr(400, &kmstypes.DisabledException{}), PermanentFailure, "DisabledException", 400},
		{sdkErr(403, api("AccessDenied")), PermanentFailure, "AccessDenied", 403},
		{sdkErr(404, &s3types.NoSuchKey{}), PermanentFailure, "NoSuchKey", 404},
		{sdkErr(412, api("PreconditionFailed")), PermanentFailure, "PreconditionFailed", 412},
		{errors.New("something else"), PermanentFailure, "Error", 0},
	} {
		status, code, http := Classify(tc.err)
		if status != tc.status || code != tc.code || http != tc.http {
			t.Errorf("Classify(%v) = %s %s %d, want %s %s %d", tc.err, status, code, http, tc.status, tc.code, tc.http)
		}
	}
}

func TestMessage(t *testing.T) {
	if got := message("a\nb\r\tc"); got != "a b  c" {
		t.Errorf("message = %q", got)
	}
	long := strings.Repeat("€", 600) // 1800 bytes
	got := message(long)
	if len(got) > MaxMessageLength || !strings.HasSuffix(got, "...") || !strings.HasPrefix(got, "€€") {
		t.Errorf("long message: %d bytes, %q...", len(got), got[:10])
	}
	for _, r := range strings.TrimSuffix(got, "...") {
		if r != '€' {
			t.Fatalf("cut inside a character: %q", got[len(got)-8:])
		}
	}
}
