package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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

// notImplemented reports a request the server does not implement (501, or
// the NotImplemented code): an S3-compatible server without conditional
// deletes.
func notImplemented(err error) bool {
	var api smithy.APIError
	var re *awshttp.ResponseError
	return (errors.As(err, &api) && api.ErrorCode() == "NotImplemented") || (errors.As(err, &re) && re.HTTPStatusCode() == 501)
}

// isPreconditionFailed reports a condition S3 refused (412).
func isPreconditionFailed(err error) bool {
	var api smithy.APIError
	var re *awshttp.ResponseError
	return (errors.As(err, &api) && api.ErrorCode() == "PreconditionFailed") || (errors.As(err, &re) && re.HTTPStatusCode() == 412)
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
		var re *resumableErr
		switch {
		case errors.As(err, &re):
			fmt.Fprintln(e.stderr, "s3ec: "+re.line())
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
	if u, ok := addressURL(err); ok {
		return u.String()
	}
	return ""
}

// addressURL returns the S3 address an error is about, if it says.
func addressURL(err error) (s3URL, bool) {
	var oe *encryptionclient.ObjectError
	var my *objectErr
	switch {
	case errors.As(err, &oe):
		return s3URL{bucket: oe.Bucket, key: oe.Key}, true
	case errors.As(err, &my):
		return my.url, true
	}
	return s3URL{}, false
}

// errorLine renders err as one line, "s3ec: ...", with a hint when a flag
// would change the outcome. It speaks in the command line's terms: the
// library's option names in its messages are replaced by the flags that set
// them (cliTerms).
func errorLine(err error) string {
	if line, ok := notFoundLine(err); ok {
		return "s3ec: " + visible(line)
	}
	var re *resumableErr
	if errors.As(err, &re) {
		// The cause, then how to resume or abort the upload left open.
		return errorLine(re.cause) + "; " + re.line()
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	// Some of the library's sentinels carry the program's name already.
	msg = strings.ReplaceAll(msg, ": s3ec: ", ": ")
	msg = strings.TrimPrefix(msg, "s3ec: ")
	var oe *encryptionclient.ObjectError
	if errors.As(err, &oe) {
		// "encryptionclient: GetObject s3://b/k: ..." is the library's
		// way; the command's is the address alone, once.
		u := s3URL{bucket: oe.Bucket, key: oe.Key}.String()
		lib := strings.Join(strings.Fields("encryptionclient: "+oe.Op+" "+u+":"), " ") + " "
		msg = strings.Replace(msg, lib, u+": ", 1)
		msg = strings.Replace(msg, u+": "+u+": ", u+": ", 1)
	}
	var pe *envelope.PolicyError
	switch {
	case errors.Is(err, encryptionclient.ErrUnauthenticatedSource):
		msg += " [to re-encrypt it anyway: --allow-unauthenticated-source; use it only for objects you trust]"
	case errors.As(err, &pe):
		// The library says which option of its own would allow it; the
		// command has a flag, or nothing to offer.
		msg = strings.Replace(msg, " (to allow it, set "+pe.Option+")", "", 1)
		switch {
		case strings.Contains(pe.Option, "LegacyUnauthenticated"):
			msg += " [to read it: --policy allow --legacy-unauthenticated]"
		case strings.Contains(pe.Option, "Commitment"):
			msg += " [to read it: --policy allow]"
		case strings.Contains(pe.Option, "LegacyWrapping"):
			msg += " [to read it: --legacy-wrapping]"
		}
	case errors.Is(err, encryptionclient.ErrTooLarge) && strings.Contains(msg, "to authenticate in memory"):
		// The library's advice after the limit names its options; the
		// command's names its flags.
		cbc := strings.Contains(msg, "legacy CBC")
		if i := strings.Index(msg, " (Options.BufferSize)"); i >= 0 {
			msg = msg[:i]
		}
		if cbc {
			msg += " (a legacy CBC object has no tag: it is not authenticated through a temporary file) [pass --stream to write it as it arrives; its padding is checked only at its end]"
		} else {
			msg += " [pass --stream to write it as it arrives, authenticated only at its end; or copy it to a file with 's3ec cp', which authenticates it first]"
		}
	}
	msg = cliTerms.Replace(msg)
	var ua *encryptionclient.UploadAbortError
	if errors.As(err, &ua) {
		msg += abortHint(ua)
	}
	return "s3ec: " + visible(msg)
}

// cliTerms replaces the library's names of its options, in its messages, by
// what a user of the command line sets or reads. TestErrorLineSpeaksCLI
// provokes each message and checks that none is left.
var cliTerms = strings.NewReplacer(
	// reencrypt: the hint names --allow-unauthenticated-source.
	"; set ReEncryptInput.AllowUnauthenticatedSource for objects you trust", "",
	// rotate: an instruction file in the way.
	" (set RewrapInput.OverwriteDestination to replace it)", "",
	// rotate: the new keyring refused by the library.
	"RewrapInput.Keyring: ", "the new keyring: ",
	// The local keyrings' checks of --material-description.
	"AESKeyringOptions.MaterialDescription", "the material description",
	"RSAKeyringOptions.MaterialDescription", "the material description",
)

// notFoundLine words a missing bucket or object, with the address it is
// about: "s3://b: no such bucket", "s3://b/k: no such object". It is the
// one wording of each, whichever command met it (they all exit 2).
func notFoundLine(err error) (string, bool) {
	if !isS3NotFound(err) {
		return "", false
	}
	u, ok := addressURL(err)
	if !ok {
		return "", false
	}
	var nf *notFoundErr
	explained := errors.As(err, &nf)
	if (explained && nf.bucket) || s3Missing(err) == "bucket" || u.key == "" {
		return "s3://" + u.bucket + ": no such bucket", true
	}
	line := u.String() + ": no such object"
	if explained && nf.hint != "" {
		line += "; " + nf.hint
	}
	return line, true
}

// s3Missing says what an S3 not-found error says is missing: "bucket" or
// "object" when its code says so (NoSuchBucket, NoSuchKey), "" when it
// cannot: the 404 of a HeadObject has no body, and answers a missing
// bucket as it answers a missing object.
func s3Missing(err error) string {
	var nsk *types.NoSuchKey
	var nsb *types.NoSuchBucket
	var api smithy.APIError
	switch {
	case errors.As(err, &nsb):
		return "bucket"
	case errors.As(err, &nsk):
		return "object"
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "NoSuchBucket":
			return "bucket"
		case "NoSuchKey":
			return "object"
		}
	}
	return ""
}

// notFoundErr is a missing bucket or object as explainNotFound explained it.
type notFoundErr struct {
	bucket bool   // the bucket is missing, not only the object
	hint   string // how to name the prefix that the address names without its "/"
	err    error
}

func (e *notFoundErr) Error() string { return e.err.Error() }
func (e *notFoundErr) Unwrap() error { return e.err }

// prefixVerbs are the commands whose address may name a prefix, and how
// a hint says what they do with one; slashPrefix those for which a trailing
// "/" alone makes the address a prefix (the others need --recursive).
var (
	prefixVerbs = map[string]string{"cp": "copy", "verify": "verify", "inspect": "inspect", "rotate": "rotate", "reencrypt": "re-encrypt", "adopt": "encrypt", "mv": "move", "rm": "delete"}
	slashPrefix = map[string]bool{"inspect": true, "rotate": true, "reencrypt": true, "adopt": true}
)

// explainNotFound asks S3 what a command's not-found error left open: for
// the 404 of a HeadObject, whether the bucket exists; for a missing
// object whose key is the name of a prefix (s3://b/tree2 when objects are
// under tree2/), how to name the prefix. It needs a client the command
// made, and says nothing more when the questions fail.
func (a *awsFlags) explainNotFound(ctx context.Context, err error, cmd string, recursive bool) error {
	if a.client == nil || ctx.Err() != nil || !isS3NotFound(err) {
		return err
	}
	u, ok := addressURL(err)
	if !ok {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nf := &notFoundErr{bucket: s3Missing(err) == "bucket" || u.key == "", err: err}
	if !nf.bucket && s3Missing(err) == "" {
		_, herr := a.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(u.bucket)})
		nf.bucket = herr != nil && isS3NotFound(herr)
	}
	verb, ok := prefixVerbs[cmd]
	if !nf.bucket && ok && recursive && u.key != "" && !strings.HasSuffix(u.key, "/") {
		out, lerr := a.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(u.bucket), Prefix: aws.String(u.key + "/"), MaxKeys: aws.Int32(1)})
		if lerr == nil && len(out.Contents) > 0 {
			if slashPrefix[cmd] {
				nf.hint = fmt.Sprintf("to %s a prefix, use %s/ or --recursive", verb, u)
			} else {
				nf.hint = fmt.Sprintf("to %s a prefix, use --recursive", verb)
			}
		}
	}
	return nf
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

// isKeyringRefusal reports a resume token refused because the keyring
// cannot open it (another key, another encryption context).
func isKeyringRefusal(err error) bool {
	var re *encryptionclient.ResumeError
	return errors.As(err, &re) && exitCode(err) == exitKey
}
