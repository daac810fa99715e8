package bulk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// Operation is what a job does to each object. Do must be safe for
// concurrent use and must not panic; it reports every failure in the
// Result (see Classify).
type Operation interface {
	// Name is "rewrap", "reencrypt", "adopt", "verify" or "inspect".
	Name() string
	// Do runs the operation on one task.
	Do(ctx context.Context, t Task) Result
}

// RewrapParams are the parameters of a Rewrap job (see
// encryptionclient.RewrapInput).
type RewrapParams struct {
	Keyring           materials.Keyring // the new keyring; required
	EncryptionContext map[string]string // nil keeps each object's context
	DryRun            bool
}

// ReEncryptParams are the parameters of a ReEncrypt job (see
// encryptionclient.ReEncryptInput).
type ReEncryptParams struct {
	Keyring           materials.Keyring // nil: the client's keyring
	EncryptionContext map[string]string // nil keeps each object's context
	DryRun, Force     bool
	PartSize          int64 // 0: the client's default
	Concurrency       int   // parts in flight per object; 0: the client's default

	// AllowUnauthenticatedSource re-encrypts sources whose content carries
	// no authentication tag (AES-CBC: V1 objects, V2 objects with CBC
	// content; see encryptionclient.ReEncryptInput). Without it they are
	// a PermanentFailure with ErrorCode "UnauthenticatedSource" and
	// nothing is written; with it they are Done with Reason
	// "reencrypted-unauthenticated", never plain "reencrypted": the new
	// object authenticates whatever the stored bytes decrypted to, altered
	// or not. Use it only for objects you trust.
	AllowUnauthenticatedSource bool
}

// AdoptParams are the parameters of an Adopt job (see
// encryptionclient.AdoptInput).
type AdoptParams struct {
	Keyring           materials.Keyring // nil: the client's keyring
	EncryptionContext map[string]string // nil: no context
	DryRun            bool
	PartSize          int64
	Concurrency       int
}

// Inspection is what Inspect found about one object. It holds no key
// material and no context values.
type Inspection struct {
	Format           string   // "V1", "V2", "V3"
	ContentSuite     string   // the content algorithm
	WrapAlgorithm    string   // e.g. "kms+context", "AES/GCM"
	KMSKeyID         string   // when the envelope records it (legacy kms wraps)
	ContextKeys      []string // the keys of the encryption context or material description, sorted
	PlaintextSize    int64    // -1 when unknown
	EnvelopeLocation string   // "metadata" | "instruction-file"
	Encrypted        bool     // false: the object has no envelope (the other fields are empty)
}

// Rewrap re-wraps each object's data key under p.Keyring
// (encryptionclient.Client.Rewrap): content untouched. Objects already
// under the new key are skipped ("already-current"), and so are objects
// without an envelope ("not-encrypted"), instruction files and versions
// that are not the latest. A task's version id must name the current
// version (else encryptionclient.ErrObjectChanged): only the current
// version can be rewritten in place.
func Rewrap(c *encryptionclient.Client, p RewrapParams) Operation { return rewrapOp{c, p} }

type rewrapOp struct {
	c *encryptionclient.Client
	p RewrapParams
}

func (rewrapOp) Name() string { return "rewrap" }

func (o rewrapOp) Do(ctx context.Context, t Task) Result {
	if r, ok := writePrelude(ctx, o.c, t); !ok {
		return r
	}
	// The version a task names is checked by Rewrap itself, against the
	// HeadObject whose ETag its write is conditional on: a write between
	// a check here and the rewrite would have been re-wrapped instead.
	out, err := o.c.Rewrap(ctx, &encryptionclient.RewrapInput{
		Bucket: aws.String(t.Bucket), Key: aws.String(t.Key), VersionId: optional(t.VersionId),
		Keyring: o.p.Keyring, EncryptionContext: o.p.EncryptionContext, DryRun: o.p.DryRun,
	})
	switch {
	case errors.Is(err, encryptionclient.ErrSameWrappingKey):
		return skipped(t, "already-current")
	case errors.Is(err, encryptionclient.ErrNotEncrypted):
		return skipped(t, "not-encrypted")
	case err != nil:
		return failed(t, err)
	}
	where := "metadata"
	if out.InstructionFile {
		where = "instruction file"
	}
	return done(t, "rewrapped", o.p.DryRun, fmt.Sprintf("%s, %s", out.Format, where))
}

// ReEncrypt rewrites each object under a new data key in the format the
// client writes (encryptionclient.Client.ReEncrypt): V1 and V2 objects
// become V3. Objects already current are skipped ("already-current"), as
// are objects without an envelope, instruction files and versions that are
// not the latest. AES-CBC sources fail ("UnauthenticatedSource") unless
// p.AllowUnauthenticatedSource, and are then reported as
// "reencrypted-unauthenticated".
func ReEncrypt(c *encryptionclient.Client, p ReEncryptParams) Operation { return reencryptOp{c, p} }

type reencryptOp struct {
	c *encryptionclient.Client
	p ReEncryptParams
}

func (reencryptOp) Name() string { return "reencrypt" }

func (o reencryptOp) Do(ctx context.Context, t Task) Result {
	if r, ok := writePrelude(ctx, o.c, t); !ok {
		return r
	}
	in := &encryptionclient.ReEncryptInput{
		Bucket: aws.String(t.Bucket), Key: aws.String(t.Key), VersionId: optional(t.VersionId),
		Keyring: o.p.Keyring, EncryptionContext: o.p.EncryptionContext, DryRun: o.p.DryRun, Force: o.p.Force,
		PartSize: o.p.PartSize, Concurrency: o.p.Concurrency, AllowUnauthenticatedSource: o.p.AllowUnauthenticatedSource,
	}
	out, err := o.c.ReEncrypt(ctx, in)
	switch {
	case errors.Is(err, encryptionclient.ErrAlreadyCurrent):
		return skipped(t, "already-current")
	case errors.Is(err, encryptionclient.ErrNotEncrypted):
		return skipped(t, "not-encrypted")
	case err != nil:
		return failed(t, err)
	}
	detail := fmt.Sprintf("%s to %s, %d bytes", out.From, out.To, out.Size)
	if out.Multipart {
		detail += ", multipart"
	}
	if len(out.NotKept) > 0 {
		detail += ", not kept: " + strings.Join(out.NotKept, " ")
	}
	if !out.SourceAuthenticated {
		return done(t, "reencrypted-unauthenticated", o.p.DryRun, detail+", source not authenticated (AES-CBC: no tag)")
	}
	return done(t, "reencrypted", o.p.DryRun, detail)
}

// Adopt encrypts each unencrypted object in place
// (encryptionclient.Client.Adopt). Objects that already carry an envelope
// are skipped ("already-encrypted"), as are instruction files and versions
// that are not the latest.
func Adopt(c *encryptionclient.Client, p AdoptParams) Operation { return adoptOp{c, p} }

type adoptOp struct {
	c *encryptionclient.Client
	p AdoptParams
}

func (adoptOp) Name() string { return "adopt" }

func (o adoptOp) Do(ctx context.Context, t Task) Result {
	if r, ok := writePrelude(ctx, o.c, t); !ok {
		return r
	}
	out, err := o.c.Adopt(ctx, &encryptionclient.AdoptInput{
		Bucket: aws.String(t.Bucket), Key: aws.String(t.Key), VersionId: optional(t.VersionId),
		Keyring: o.p.Keyring, EncryptionContext: o.p.EncryptionContext, DryRun: o.p.DryRun,
		PartSize: o.p.PartSize, Concurrency: o.p.Concurrency,
	})
	switch {
	case errors.Is(err, encryptionclient.ErrAlreadyEncrypted):
		return skipped(t, "already-encrypted")
	case err != nil:
		return failed(t, err)
	}
	detail := fmt.Sprintf("%s, %d bytes", out.To, out.Size)
	if out.Multipart {
		detail += ", multipart"
	}
	if len(out.NotKept) > 0 {
		detail += ", not kept: " + strings.Join(out.NotKept, " ")
	}
	return done(t, "adopted", o.p.DryRun, detail)
}

// Verify authenticates each object (encryptionclient.Client.VerifyObject:
// tag, key commitment, encryption context), the version a task names
// included, releasing no plaintext. Objects without an envelope are
// skipped ("not-encrypted"), and so are instruction files; legacy CBC objects, which have no tag, are
// Done with Reason "unauthenticated".
func Verify(c *encryptionclient.Client) Operation { return verifyOp{c} }

type verifyOp struct{ c *encryptionclient.Client }

func (verifyOp) Name() string { return "verify" }

func (o verifyOp) Do(ctx context.Context, t Task) Result {
	if instr, err := o.c.IsInstructionFile(ctx, &s3.HeadObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(t.Key)}); err != nil {
		return failed(t, err)
	} else if instr {
		return skipped(t, "instruction-file")
	}
	out, err := o.c.VerifyObject(ctx, &s3.GetObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(t.Key), VersionId: optional(t.VersionId)})
	switch {
	case errors.Is(err, encryptionclient.ErrNotEncrypted):
		return skipped(t, "not-encrypted")
	case err != nil:
		return failed(t, err)
	}
	detail := fmt.Sprintf("%s %s, %d bytes", out.Format, out.Suite, out.Size)
	if !out.Authenticated {
		return done(t, "unauthenticated", false, detail+", no authentication tag (legacy CBC)")
	}
	return done(t, "verified", false, detail)
}

// Inspect reads each object's envelope (encryptionclient.ReadEnvelope;
// no keyring, nothing unwrapped or authenticated) and reports it in
// Result.Inspection. Objects without an envelope are Done with Reason
// "not-encrypted", Inspection.Encrypted false and their size (one more
// HeadObject). The version a task names is read. Instruction files are
// objects without an envelope of their own: Inspect does not recognise
// them, so list them apart or expect them among the "not-encrypted"; or
// use InspectWith and an InstructionFileSuffix.
func Inspect(client encryptionclient.S3API) Operation { return InspectWith(client, InspectParams{}) }

// InspectParams configure InspectWith.
type InspectParams struct {
	// InstructionFileSuffix, when set, is the suffix of the bucket's
	// instruction files (envelope.DefaultInstructionSuffix,
	// ".instruction", is the one of AWS's clients and of this library's
	// default): every envelope is read with it (as
	// encryptionclient.WithInstructionFileSuffix does), and Inspect
	// recognises the instruction files: an object without an envelope
	// whose key is BASE+suffix,
	// where the object BASE exists and keeps its envelope in that very
	// file (what encryptionclient.Client.IsInstructionFile proves, made
	// with ReadEnvelope), is Skipped with Reason "instruction-file"
	// instead of Done "not-encrypted". It costs a ReadEnvelope of BASE
	// for such keys only. An object merely named like an instruction
	// file, or an orphaned one, stays "not-encrypted".
	InstructionFileSuffix string
}

// InspectWith is Inspect with options: see InspectParams.
func InspectWith(client encryptionclient.S3API, p InspectParams) Operation {
	return inspectOp{client, p}
}

type inspectOp struct {
	c encryptionclient.S3API
	p InspectParams
}

func (inspectOp) Name() string { return "inspect" }

// instructionFileOf reports whether key is the instruction file of the
// object key without the suffix (see InspectParams); a temporary error
// of that lookup is returned, anything else is "not proven". ctx carries
// the suffix (Do sets it), so ReadEnvelope pairs BASE with BASE+suffix.
func (o inspectOp) instructionFileOf(ctx context.Context, t Task) (bool, error) {
	suffix := o.p.InstructionFileSuffix
	base, ok := strings.CutSuffix(t.Key, suffix)
	if suffix == "" || !ok || base == "" {
		return false, nil
	}
	out, err := encryptionclient.ReadEnvelope(ctx, o.c, &s3.HeadObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(base)})
	if err != nil {
		if status, _, _ := Classify(err); status == TemporaryFailure {
			return false, err
		}
		return false, nil
	}
	return out.InstructionFileKey == t.Key, nil
}

func (o inspectOp) Do(ctx context.Context, t Task) Result {
	in := &s3.HeadObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(t.Key)}
	if t.VersionId != "" {
		in.VersionId = aws.String(t.VersionId)
	}
	if o.p.InstructionFileSuffix != "" {
		ctx = encryptionclient.WithInstructionFileSuffix(ctx, o.p.InstructionFileSuffix)
	}
	out, err := encryptionclient.ReadEnvelope(ctx, o.c, in)
	if errors.Is(err, encryptionclient.ErrNotEncrypted) {
		if instr, err := o.instructionFileOf(ctx, t); err != nil {
			return failed(t, err)
		} else if instr {
			return skipped(t, "instruction-file")
		}
		r := done(t, "not-encrypted", false, "")
		r.Inspection = &Inspection{PlaintextSize: -1}
		// Its size is its plaintext size: one more HeadObject, for
		// unencrypted objects only.
		if h, err := o.c.HeadObject(ctx, in); err == nil && h.ContentLength != nil {
			r.Inspection.PlaintextSize = *h.ContentLength
		}
		return r
	}
	if err != nil {
		return failed(t, err)
	}
	env := out.Envelope
	in2 := &Inspection{
		Format: env.Format.String(), ContentSuite: env.Suite.String(), WrapAlgorithm: string(env.WrapAlgorithm),
		PlaintextSize: env.PlaintextLength, EnvelopeLocation: "metadata", Encrypted: true,
	}
	if env.WrapAlgorithm.IsKMS() {
		in2.KMSKeyID = env.Description[envelope.LegacyKMSKeyIDKey]
	}
	for k := range env.Description {
		in2.ContextKeys = append(in2.ContextKeys, k)
	}
	slices.Sort(in2.ContextKeys)
	if out.InstructionFileKey != "" {
		in2.EnvelopeLocation = "instruction-file"
	}
	if h := out.HeadObject; h != nil && h.ContentLength != nil {
		if n, exact, err := envelope.PlaintextLength(env.Suite, *h.ContentLength); err == nil && exact {
			in2.PlaintextSize = n
		}
	}
	r := done(t, "inspected", false, strings.Join([]string{in2.Format, in2.ContentSuite, in2.WrapAlgorithm, in2.EnvelopeLocation}, " "))
	r.Inspection = in2
	return r
}

// writePrelude skips what no write operation touches: versions that are
// not the latest, and instruction files (only keys that end with the
// client's suffix cost a request). ok is false when r is the result.
func writePrelude(ctx context.Context, c *encryptionclient.Client, t Task) (r Result, ok bool) {
	if t.NotLatest {
		return skipped(t, "not-latest"), false
	}
	instr, err := c.IsInstructionFile(ctx, &s3.HeadObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(t.Key)})
	if err != nil {
		return failed(t, err), false
	}
	if instr {
		return skipped(t, "instruction-file"), false
	}
	return Result{}, true
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func done(t Task, reason string, dryRun bool, detail string) Result {
	msg := reason
	if detail != "" {
		msg += ": " + detail
	}
	if dryRun {
		msg = "dry run, would be " + msg
	}
	return Result{Task: t, Outcome: Done, Status: Succeeded, Reason: reason, HTTPStatus: 200, Message: message(msg)}
}

func skipped(t Task, reason string) Result {
	return Result{Task: t, Outcome: Skipped, Status: Succeeded, Reason: reason, HTTPStatus: 200, Message: "skipped: " + reason}
}

func failed(t Task, err error) Result {
	status, code, http := Classify(err)
	return Result{Task: t, Outcome: Failed, Status: status, Reason: "failed", ErrorCode: code, HTTPStatus: http, Message: message(err.Error()), Err: err}
}
