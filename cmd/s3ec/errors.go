package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// Exit codes; printMainHelp documents them.
const (
	exitOK          = 0
	exitUsage       = 1
	exitNotFound    = 2
	exitAuth        = 3
	exitKey         = 4
	exitOther       = 5
	exitInterrupted = 130
)

// usageError reports a command line that cannot be run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// codedError gives an error an exit code that its class would not.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// keyError reports an unusable key file or key configuration (exit 4).
func keyError(err error) error { return &codedError{code: exitKey, err: err} }

// exitCode classifies err.
func exitCode(err error) int {
	var ue *usageError
	var ce *codedError
	var noMatch *materials.NoMatchError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue),
		errors.Is(err, materials.ErrContextNotSupported),
		errors.Is(err, materials.ErrReservedContextKey):
		return exitUsage
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, encryptionclient.ErrUnwrap),
		errors.Is(err, encryptionclient.ErrContextMismatch),
		errors.Is(err, materials.ErrNotMine),
		errors.Is(err, materials.ErrEncryptOnly),
		errors.Is(err, materials.ErrDecryptOnly),
		errors.As(err, &noMatch),
		isKMSRefusal(err):
		return exitKey
	case errors.Is(err, encryptionclient.ErrAuthentication),
		errors.Is(err, encryptionclient.ErrCommitmentMismatch),
		errors.Is(err, encryptionclient.ErrInvalidCiphertext),
		errors.Is(err, encryptionclient.ErrMalformed):
		return exitAuth
	case errors.Is(err, encryptionclient.ErrNotEncrypted),
		isS3NotFound(err),
		errors.Is(err, fs.ErrNotExist):
		return exitNotFound
	}
	return exitOther
}

// isKMSRefusal reports an error answered by KMS itself (key disabled or not
// found, access denied...), as opposed to a network failure on the way.
func isKMSRefusal(err error) bool {
	var op *smithy.OperationError
	var api smithy.APIError
	return errors.As(err, &op) && op.ServiceID == "KMS" && errors.As(err, &api)
}

// isS3NotFound reports a missing bucket or object.
func isS3NotFound(err error) bool {
	var op *smithy.OperationError
	if !errors.As(err, &op) || op.ServiceID != "S3" {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsb) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}

// report prints err, if any, on stderr in one line and returns the exit
// code.
func report(ctx context.Context, e *env, err error) int {
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		var ua *encryptionclient.UploadAbortError
		var ie *interruptedErr
		switch {
		case errors.As(err, &ua):
			fmt.Fprintf(e.stderr, "s3ec: interrupted; s3://%s/%s: the abort of its multipart upload %s failed: %s%s\n",
				ua.Bucket, ua.Key, ua.UploadID, strings.Join(strings.Fields(ua.AbortErr.Error()), " "), abortHint(ua))
		case errors.As(err, &ie):
			fmt.Fprintln(e.stderr, "s3ec: interrupted; "+ie.note)
		default:
			fmt.Fprintln(e.stderr, "s3ec: interrupted")
		}
		return exitInterrupted
	}
	fmt.Fprintln(e.stderr, errorLine(err))
	return exitCode(err)
}

// objectErr attributes an error to an object or prefix.
type objectErr struct {
	url s3URL
	err error
}

func (e *objectErr) Error() string { return e.url.String() + ": " + e.err.Error() }
func (e *objectErr) Unwrap() error { return e.err }

// address returns the S3 address an error is about, if it says.
func address(err error) string {
	var oe *encryptionclient.ObjectError
	var my *objectErr
	switch {
	case errors.As(err, &oe):
		return s3URL{bucket: oe.Bucket, key: oe.Key}.String()
	case errors.As(err, &my):
		return my.url.String()
	}
	return ""
}

// errorLine renders err as one line, "s3ec: ...", with a hint when a flag
// would change the outcome.
func errorLine(err error) string {
	if isS3NotFound(err) {
		if addr := address(err); addr != "" {
			what := "not found"
			var api smithy.APIError
			if errors.As(err, &api) {
				switch api.ErrorCode() {
				case "NoSuchKey":
					what = "no such object"
				case "NoSuchBucket":
					what = "no such bucket"
				}
			}
			return "s3ec: " + addr + ": " + what
		}
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	// Some of the library's sentinels carry the program's name already.
	msg = strings.ReplaceAll(msg, ": s3ec: ", ": ")
	msg = strings.TrimPrefix(msg, "s3ec: ")
	var pe *envelope.PolicyError
	switch {
	case errors.Is(err, encryptionclient.ErrUnauthenticatedSource):
		// (The library names its own option; the command has a flag.)
		msg = strings.Replace(msg, "; set ReEncryptInput.AllowUnauthenticatedSource for objects you trust", "", 1)
		msg += " [to re-encrypt it anyway: --allow-unauthenticated-source; use it only for objects you trust]"
	case errors.As(err, &pe):
		switch {
		case strings.Contains(pe.Option, "LegacyUnauthenticated"):
			msg += " [to read it: --policy allow --legacy-unauthenticated]"
		case strings.Contains(pe.Option, "Commitment"):
			msg += " [to read it: --policy allow]"
		case strings.Contains(pe.Option, "LegacyWrapping"):
			msg += " [to read it: --legacy-wrapping]"
		}
	case errors.Is(err, encryptionclient.ErrTooLarge):
		msg += " [copy it to a file, or pass --stream]"
	}
	var ua *encryptionclient.UploadAbortError
	if errors.As(err, &ua) {
		msg += abortHint(ua)
	}
	return "s3ec: " + msg
}

// abortHint tells how to abort the multipart upload a failed abort left.
func abortHint(ua *encryptionclient.UploadAbortError) string {
	return fmt.Sprintf(" [its parts stay stored until it is aborted: aws s3api abort-multipart-upload --bucket %s --key %s --upload-id %s]",
		shellQuote(ua.Bucket), shellQuote(ua.Key), shellQuote(ua.UploadID))
}

// shellQuote quotes s for a POSIX shell, when it needs it.
func shellQuote(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c < 0x80 && (isAlnum(byte(c)) || strings.ContainsRune("._-/=:+@%,", c))) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// interruptedErr is an interruption with a note on what it left.
type interruptedErr struct {
	note string
	err  error
}

func (e *interruptedErr) Error() string { return e.err.Error() + " (" + e.note + ")" }
func (e *interruptedErr) Unwrap() error { return e.err }
