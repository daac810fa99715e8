package bulk

import (
	"context"
	"errors"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// Outcome is how a task ended.
type Outcome int

// The outcomes of a task.
const (
	// Done: the operation did its work (or, in a dry run, would have).
	Done Outcome = iota
	// Skipped: nothing to do; Result.Reason says why.
	Skipped
	// Failed: the operation failed; Result.Status says whether a retry
	// may succeed.
	Failed
)

// String returns "done", "skipped" or "failed".
func (o Outcome) String() string {
	switch o {
	case Done:
		return "done"
	case Skipped:
		return "skipped"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// TaskStatus is a task's result code as S3 Batch Operations names it.
type TaskStatus string

// The result codes of S3 Batch Operations.
const (
	Succeeded        TaskStatus = "Succeeded"
	TemporaryFailure TaskStatus = "TemporaryFailure" // Batch retries the task
	PermanentFailure TaskStatus = "PermanentFailure"
)

// Result is what became of one task.
type Result struct {
	Task
	Outcome Outcome
	Status  TaskStatus

	// Reason is a short machine word: "rewrapped", "reencrypted",
	// "reencrypted-unauthenticated" (an AES-CBC source, re-encrypted
	// with ReEncryptParams.AllowUnauthenticatedSource), "adopted",
	// "verified", "unauthenticated" (Verify of a CBC object), "inspected"
	// (Done); "already-current",
	// "not-encrypted", "already-encrypted", "instruction-file",
	// "not-latest" (Skipped); "failed" (Failed). A dry run's Done says
	// what would have been done.
	Reason string

	// ErrorCode names the error of a failure (see Classify):
	// "AuthenticationFailed", "ObjectChanged", "ThrottlingException", an
	// S3 or KMS error code...
	ErrorCode string

	// HTTPStatus is 200 on success, the S3 or KMS status of a failure when
	// known, 0 otherwise.
	HTTPStatus int

	// Message is a short one-line description (at most 1024 characters,
	// never key material): the error's message for a failure.
	Message string

	// Err is the error of a failure, for library callers (not in the
	// report).
	Err error

	// Inspection is Inspect's finding (nil for other operations).
	Inspection *Inspection
}

// MaxMessageLength bounds Result.Message (a Batch Operations result string
// holds at most 1024 characters).
const MaxMessageLength = 1024

// Classify maps an error to its Batch Operations result code, an error
// code and the HTTP status of the S3 or KMS response when there was one.
//
// TemporaryFailure (a retry may succeed): throttling (the SDK's throttle
// codes: ThrottlingException, SlowDown, RequestLimitExceeded,
// TooManyRequestsException, ...), other codes the SDK retries, HTTP 5xx,
// KMS's KMSInternalException, DependencyTimeoutException and
// KeyUnavailableException, timeouts and network errors, a deadline, a
// caller's cancellation, a truncated response, and
// encryptionclient.ErrObjectChanged (a concurrent write: a retry reads the
// new object), except encryptionclient.ErrNotCurrentVersion.
//
// PermanentFailure: a task naming a version that is not the current one
// (encryptionclient.ErrNotCurrentVersion, code NotCurrentVersion: only the
// current version can be rewritten in place), authentication, key
// commitment, policy, a malformed
// envelope or CBC body, an unwrap, authorization or encryption-context
// failure, invalid input, an object too large, Object Lock, FIPS-only
// refusals, an instruction file that does not belong to the object, S3
// and KMS 4xx (AccessDenied, NoSuchKey, NotFoundException,
// DisabledException, InvalidCiphertextException, ...), and any error not
// named here.
func Classify(err error) (status TaskStatus, code string, httpStatus int) {
	if err == nil {
		return Succeeded, "", 200
	}
	httpStatus = statusOf(err)
	var apiErr smithy.APIError
	hasAPI := errors.As(err, &apiErr)
	apiCode, shown := "", ""
	if hasAPI {
		apiCode = apiErr.ErrorCode()
		shown = codeCell(apiCode)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return TemporaryFailure, "Canceled", httpStatus
	case errors.Is(err, context.DeadlineExceeded):
		return TemporaryFailure, "Timeout", httpStatus
	case apiCode != "" && isTransientCode(apiCode):
		return TemporaryFailure, shown, httpStatus
	case httpStatus >= 500:
		return TemporaryFailure, codeOr(shown, "InternalError"), httpStatus
	case errors.Is(err, encryptionclient.ErrNotCurrentVersion):
		// A retry reads the same current version again.
		return PermanentFailure, "NotCurrentVersion", httpStatus
	case errors.Is(err, encryptionclient.ErrObjectChanged):
		return TemporaryFailure, "ObjectChanged", httpStatus
	case errors.Is(err, encryptionclient.ErrTruncated):
		return TemporaryFailure, "Truncated", httpStatus
	case isTimeout(err):
		return TemporaryFailure, "Timeout", httpStatus
	case !hasAPI && isNetwork(err):
		return TemporaryFailure, "NetworkError", httpStatus
	}
	for _, s := range permanent {
		if errors.Is(err, s.err) {
			return PermanentFailure, s.code, httpStatus
		}
	}
	if apiCode != "" {
		return PermanentFailure, codeOr(shown, "Error"), httpStatus
	}
	if errors.Is(err, encryptionclient.ErrUnwrap) {
		return PermanentFailure, "UnwrapFailed", httpStatus
	}
	return PermanentFailure, "Error", httpStatus
}

// permanent names the library's error classes, most specific first. The
// unwrap class comes after S3 and KMS codes (a KMS AccessDeniedException
// under an unwrap error is reported as itself).
var permanent = []struct {
	err  error
	code string
}{
	{encryptionclient.ErrAuthentication, "AuthenticationFailed"},
	{encryptionclient.ErrCommitmentMismatch, "CommitmentMismatch"},
	{encryptionclient.ErrContextMismatch, "ContextMismatch"},
	{encryptionclient.ErrUnauthenticatedSource, "UnauthenticatedSource"},
	{encryptionclient.ErrPolicy, "PolicyRefused"},
	{encryptionclient.ErrFIPS, "FIPSRefused"},
	{encryptionclient.ErrMalformed, "MalformedEnvelope"},
	{encryptionclient.ErrInvalidCiphertext, "InvalidCiphertext"},
	{encryptionclient.ErrInstructionFileMismatch, "InstructionFileMismatch"},
	{encryptionclient.ErrObjectLocked, "ObjectLocked"},
	{encryptionclient.ErrNotEncrypted, "NotEncrypted"},
	{encryptionclient.ErrAlreadyCurrent, "AlreadyCurrent"},
	{encryptionclient.ErrAlreadyEncrypted, "AlreadyEncrypted"},
	{encryptionclient.ErrSameWrappingKey, "SameWrappingKey"},
	{encryptionclient.ErrInvalidDescription, "InvalidDescription"},
	{encryptionclient.ErrInvalidInput, "InvalidInput"},
	{encryptionclient.ErrTooLarge, "TooLarge"},
	{encryptionclient.ErrMetadataTooLarge, "MetadataTooLarge"},
	{encryptionclient.ErrBadResponse, "BadResponse"},
	{materials.ErrKMSResponse, "BadKMSResponse"},
	{encryptionclient.ErrBodyLength, "BodyLength"},
}

// transientCodes are the error codes, beyond the SDK's, that a retry may
// clear.
var transientCodes = map[string]bool{
	"KMSInternalException":       true,
	"DependencyTimeoutException": true,
	"KeyUnavailableException":    true,
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"OperationAborted":           true,
	// S3's answer to a conditional write that met a concurrent operation
	// on the key (409), documented as one to retry.
	"ConditionalRequestConflict": true,
}

func isTransientCode(code string) bool {
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
		return true
	}
	if _, ok := retry.DefaultRetryableErrorCodes[code]; ok {
		return true
	}
	return transientCodes[code]
}

// IsThrottle reports whether err is a throttling error (one of the SDK's
// throttle codes).
func IsThrottle(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	_, ok := retry.DefaultThrottleErrorCodes[apiErr.ErrorCode()]
	return ok
}

func statusOf(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// MaxErrorCodeLength bounds Result.ErrorCode.
const MaxErrorCodeLength = 128

// codeCell is an S3 or KMS error code as a result shows it. The code is
// the server's text (an S3-compatible store, a proxy, a KMS endpoint):
// every byte but letters, digits, '.', '_' and '-' becomes '_', and it is
// cut at MaxErrorCodeLength bytes, so that a code can neither break a
// report line or the summary nor start a spreadsheet formula after a
// space or a tab. AWS's codes ("AccessDenied", "SlowDown",
// "KMSInvalidStateException") pass unchanged.
func codeCell(code string) string {
	if len(code) > MaxErrorCodeLength {
		code = code[:MaxErrorCodeLength]
	}
	b := []byte(code)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

func codeOr(code, def string) string {
	if code != "" {
		return code
	}
	return def
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return true
	}
	return retry.TimeouterError{}.IsErrorTimeout(err).Bool()
}

func isNetwork(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.As(err, &de) || errors.Is(err, net.ErrClosed)
}

// message makes err's text a report message: one line, control
// characters and line separators replaced by spaces, at most MaxMessageLength bytes (cut at a
// character boundary).
func message(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	if len(s) <= MaxMessageLength {
		return s
	}
	cut := MaxMessageLength - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
