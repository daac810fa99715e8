package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

var inspectCommand = &command{
	name:     "inspect",
	synopsis: "s3ec inspect [flags] s3://bucket/key | s3://bucket/prefix/ | --manifest",
	summary:  "show how an object is encrypted, without decrypting it",
	help: `
Show how an object is encrypted: its format (V1, V2 or V3), content and key
wrapping algorithms, whether it commits to its key, its KMS encryption
context or material description, its sizes, and where its envelope is
stored (object metadata or instruction file).

inspect reads only metadata and the instruction file: it needs no key,
unwraps nothing, and does not prove that the object is intact (see 'verify').
It never prints key material, wrapped or not.

The KMS key of a kms+context object is not recorded in its envelope (KMS
finds it from the wrapped key), so inspect shows it only for legacy kms
objects, which record it.

Many objects: an address that ends with "/" (or any address with
--recursive) inspects every object under the prefix, and --manifest the
objects of an S3 Batch Operations CSV or S3 Inventory manifest: the
inventory a security team asks for before and after a migration. Then
--output json prints one JSON object per line (bucket, key, version_id,
status, reason, encrypted, format, content_suite, wrap_algorithm,
kms_key_id, context_keys, plaintext_size, envelope_location, error_code,
message), --output csv a header and one row per object with the same
columns (context_keys separated by ";"), and text one line per object.
Unencrypted objects are listed too (encrypted false). --report writes the
S3 Batch Operations completion report, with a short summary of each
object in its ResultMessage.`,
	define: defineInspect,
}

func defineInspect(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		a         awsFlags
		asJSON    bool
		output    = "text"
		recursive bool
		b         = bulkFlags{readOnly: true}
		suffix    = envelope.DefaultInstructionSuffix
	)
	fs.boolVar(&asJSON, "json", "print a JSON object instead of text (--output json)")
	fs.stringVar(&output, "output", "print `FORMAT`: text, json (one object: indented; many: one JSON object per line) or csv (a header and a row per object)")
	fs.boolVar(&recursive, "recursive", "treat the address as a key prefix, even without a trailing /")
	fs.alias("r", "recursive")
	fs.stringVar(&suffix, "instruction-suffix", "name instruction files KEY + `SUFFIX`")
	b.register(fs, "inspect", "inspect `N` objects at once")
	a.register(fs)

	return func(ctx context.Context, e *env, args []string) error {
		b.dryRun = false // inspect writes nothing anyway
		switch output {
		case "text", "json", "csv":
		default:
			return usagef("--output %q: want text, json or csv", output)
		}
		if asJSON {
			if fs.isSet("output") && output != "json" {
				return usagef("--json is --output json: give one of them")
			}
			output = "json"
		}
		src, err := parseSource("inspect", args, b.manifest, recursive)
		if err != nil {
			return err
		}
		if src.object == nil || b.bulkMode() || output == "csv" {
			return inspectBulk(ctx, e, &a, &b, src, output, suffix)
		}
		if len(args) != 1 {
			return usagef("inspect needs one s3://bucket/key (see 's3ec inspect --help')")
		}
		obj, err := parseObjectURL(args[0])
		if err != nil {
			return err
		}
		cfg, err := a.load(ctx)
		if err != nil {
			return err
		}
		head, env, err := readEnvelope(ctx, a.s3Client(cfg, nil), obj, suffix)
		if err != nil {
			return err
		}
		info := describe(obj, suffix, head, env)
		if output == "json" {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(info)
		}
		info.writeText(e.stdout)
		return nil
	}
}

// readEnvelope reads and decodes the envelope of obj the way the library
// pairs objects and instruction files (encryptionclient.ReadEnvelope). It
// unwraps nothing.
func readEnvelope(ctx context.Context, c *s3.Client, obj s3URL, suffix string) (*s3.HeadObjectOutput, *envelope.Envelope, error) {
	ctx = encryptionclient.WithInstructionFileSuffix(ctx, suffix)
	out, err := encryptionclient.ReadEnvelope(ctx, c, &s3.HeadObjectInput{Bucket: aws.String(obj.bucket), Key: aws.String(obj.key)})
	if base, ok := strings.CutSuffix(obj.key, suffix); ok && base != "" && errors.Is(err, encryptionclient.ErrNotEncrypted) {
		// An instruction file (it carries the mark): name its object.
		if h, herr := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(obj.bucket), Key: aws.String(obj.key)}); herr == nil && envelope.HasInstructionFileMark(h.Metadata) {
			err = fmt.Errorf("%w: it is the instruction file of %s", encryptionclient.ErrNotEncrypted, s3URL{bucket: obj.bucket, key: base})
		}
	}
	if err != nil {
		return nil, nil, &objectErr{url: obj, err: err}
	}
	return out.HeadObject, out.Envelope, nil
}

// inspection is what inspect reports. It holds no key material: only the
// size of the wrapped key.
type inspection struct {
	URL                 string            `json:"url"`
	Format              string            `json:"format"`
	ContentAlgorithm    string            `json:"content_algorithm"`
	KeyCommitting       bool              `json:"key_committing"`
	Authenticated       bool              `json:"authenticated"`
	WrapAlgorithm       string            `json:"wrap_algorithm"`
	LegacyWrap          bool              `json:"legacy_wrap"`
	KMSKeyID            string            `json:"kms_key_id,omitempty"`
	EncryptionContext   map[string]string `json:"encryption_context,omitzero"`
	MaterialDescription map[string]string `json:"material_description,omitzero"`
	EnvelopeLocation    string            `json:"envelope_location"`
	InstructionFile     string            `json:"instruction_file,omitempty"`
	StoredSize          *int64            `json:"stored_size"`
	PlaintextSize       *int64            `json:"plaintext_size"`
	RecordedSize        *int64            `json:"recorded_plaintext_size,omitempty"`
	WrappedKeySize      int               `json:"wrapped_key_size"`
	ContentType         string            `json:"content_type,omitempty"`
	ETag                string            `json:"etag,omitempty"`
	LastModified        *time.Time        `json:"last_modified,omitempty"`
	VersionID           string            `json:"version_id,omitempty"`
}

func describe(obj s3URL, suffix string, head *s3.HeadObjectOutput, env *envelope.Envelope) *inspection {
	info := &inspection{
		URL:              obj.String(),
		Format:           env.Format.String(),
		ContentAlgorithm: env.Suite.String(),
		KeyCommitting:    env.Suite.Committing(),
		Authenticated:    env.Suite.Authenticated(),
		WrapAlgorithm:    string(env.WrapAlgorithm),
		LegacyWrap:       env.WrapAlgorithm.Legacy(),
		EnvelopeLocation: "metadata",
		StoredSize:       head.ContentLength,
		WrappedKeySize:   len(env.EncryptedKey),
		ContentType:      aws.ToString(head.ContentType),
		ETag:             aws.ToString(head.ETag),
		LastModified:     head.LastModified,
		VersionID:        aws.ToString(head.VersionId),
	}
	if env.WrapAlgorithm.IsKMS() {
		info.EncryptionContext = env.Description
		info.KMSKeyID = env.Description[envelope.LegacyKMSKeyIDKey]
	} else {
		info.MaterialDescription = env.Description
	}
	if env.InInstructionFile {
		info.InstructionFile = s3URL{bucket: obj.bucket, key: obj.key + suffix}.String()
		info.EnvelopeLocation = "instruction-file"
		if env.Format == envelope.FormatV3 {
			// The content keys of a V3 object always stay on the object.
			info.EnvelopeLocation = "metadata+instruction-file"
		}
	}
	if head.ContentLength != nil {
		if n, exact, err := envelope.PlaintextLength(env.Suite, *head.ContentLength); err == nil && exact {
			info.PlaintextSize = &n
		}
	}
	if env.PlaintextLength >= 0 {
		n := env.PlaintextLength
		info.RecordedSize = &n
		if info.PlaintextSize == nil {
			info.PlaintextSize = &n
		}
	}
	return info
}

func (info *inspection) writeText(w io.Writer) {
	var b strings.Builder
	line := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "%-21s %s\n", name+":", fmt.Sprintf(format, args...))
	}
	yesNo := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	b.WriteString(info.URL + "\n")
	line("Format", "%s", info.Format)
	line("Content algorithm", "%s", info.ContentAlgorithm)
	line("Key commitment", "%s", yesNo(info.KeyCommitting))
	if info.Authenticated {
		line("Authenticated", "yes (AES-GCM)")
	} else {
		line("Authenticated", "NO: legacy AES-CBC, whoever can write to the bucket can alter it undetected")
	}
	wrap := info.WrapAlgorithm
	if info.LegacyWrap {
		wrap += " (legacy)"
	}
	line("Wrap algorithm", "%s", wrap)
	if info.EncryptionContext != nil {
		if info.KMSKeyID != "" {
			line("KMS key", "%s", info.KMSKeyID)
		} else {
			line("KMS key", "not recorded (KMS finds it from the wrapped key)")
		}
		line("Encryption context", "%s", envelope.RenderDescription(info.EncryptionContext))
	} else {
		line("Material description", "%s", envelope.RenderDescription(info.MaterialDescription))
	}
	switch info.EnvelopeLocation {
	case "metadata":
		line("Envelope", "object metadata")
	case "instruction-file":
		line("Envelope", "instruction file %s", info.InstructionFile)
	default:
		line("Envelope", "object metadata, wrapped key in instruction file %s", info.InstructionFile)
	}
	line("Wrapped key", "%d bytes", info.WrappedKeySize)
	if info.StoredSize != nil {
		line("Stored size", "%d bytes", *info.StoredSize)
	}
	switch {
	case info.PlaintextSize == nil:
		line("Plaintext size", "unknown")
	case info.Authenticated:
		line("Plaintext size", "%d bytes", *info.PlaintextSize)
	default:
		line("Plaintext size", "%d bytes (as recorded, not authenticated)", *info.PlaintextSize)
	}
	if info.ContentType != "" {
		line("Content type", "%s", info.ContentType)
	}
	if info.LastModified != nil {
		line("Last modified", "%s", info.LastModified.UTC().Format(time.RFC3339))
	}
	if info.ETag != "" {
		line("ETag", "%s", info.ETag)
	}
	if info.VersionID != "" {
		line("Version", "%s", info.VersionID)
	}
	io.WriteString(w, b.String())
}

// inspectBulk inspects the objects of a prefix or a manifest.
func inspectBulk(ctx context.Context, e *env, a *awsFlags, b *bulkFlags, src jobSource, output, suffix string) error {
	if suffix == "" {
		return usagef("--instruction-suffix must not be empty")
	}
	if err := b.check(src); err != nil {
		return err
	}
	cfg, err := a.load(ctx)
	if err != nil {
		return err
	}
	plain := a.s3Client(cfg, nil)
	ctx = encryptionclient.WithInstructionFileSuffix(ctx, suffix)
	// Instruction files are recognised by pairing (the object named
	// without the suffix keeps its envelope in that very file), never by
	// their name or mark alone: a planted file must not hide an object
	// from the inventory.
	op := bulk.InspectWith(plain, bulk.InspectParams{InstructionFileSuffix: suffix})
	j := &job{e: e, name: "inspect", op: op, flags: b, src: src, plain: plain, printFailures: output != "text", alwaysPrint: true}
	var cw *csv.Writer
	switch output {
	case "json":
		j.print = func(w io.Writer, r bulk.Result) error {
			line, err := json.Marshal(newInspectLine(r))
			if err != nil {
				return err
			}
			_, err = w.Write(append(line, '\n'))
			return err
		}
	case "csv":
		cw = csv.NewWriter(e.stdout)
		if err := cw.Write(inspectColumns); err != nil {
			return err
		}
		j.print = func(_ io.Writer, r bulk.Result) error {
			if err := cw.Write(newInspectLine(r).row()); err != nil {
				return err
			}
			cw.Flush()
			return cw.Error()
		}
	default:
		j.print = func(w io.Writer, r bulk.Result) error {
			_, err := fmt.Fprintln(w, newInspectLine(r).text())
			return err
		}
	}
	return j.run(ctx)
}

// inspectLine is one object of a bulk inspect: the fields of
// bulk.Inspection and the outcome.
type inspectLine struct {
	Bucket           string   `json:"bucket"`
	Key              string   `json:"key"`
	VersionID        string   `json:"version_id,omitempty"`
	Status           string   `json:"status"` // done, skipped, failed
	Reason           string   `json:"reason,omitempty"`
	Encrypted        bool     `json:"encrypted"`
	Format           string   `json:"format,omitempty"`
	ContentSuite     string   `json:"content_suite,omitempty"`
	WrapAlgorithm    string   `json:"wrap_algorithm,omitempty"`
	KMSKeyID         string   `json:"kms_key_id,omitempty"`
	ContextKeys      []string `json:"context_keys,omitempty"`
	PlaintextSize    *int64   `json:"plaintext_size,omitempty"`
	EnvelopeLocation string   `json:"envelope_location,omitempty"`
	ErrorCode        string   `json:"error_code,omitempty"`
	Message          string   `json:"message,omitempty"`
}

// inspectColumns is the header of inspect --output csv.
var inspectColumns = []string{"bucket", "key", "version_id", "status", "reason", "encrypted", "format", "content_suite", "wrap_algorithm", "kms_key_id", "context_keys", "plaintext_size", "envelope_location", "error_code", "message"}

func newInspectLine(r bulk.Result) inspectLine {
	l := inspectLine{Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionId, Status: r.Outcome.String(), Reason: r.Reason}
	if r.Outcome == bulk.Failed {
		l.ErrorCode, l.Message = r.ErrorCode, oneLine(r.Message)
	}
	if in := r.Inspection; in != nil {
		l.Encrypted = in.Encrypted
		l.Format, l.ContentSuite, l.WrapAlgorithm, l.KMSKeyID = in.Format, in.ContentSuite, in.WrapAlgorithm, in.KMSKeyID
		l.ContextKeys = in.ContextKeys
		l.EnvelopeLocation = in.EnvelopeLocation
		if in.PlaintextSize >= 0 {
			n := in.PlaintextSize
			l.PlaintextSize = &n
		}
	}
	return l
}

func (l inspectLine) row() []string {
	size := ""
	if l.PlaintextSize != nil {
		size = fmt.Sprint(*l.PlaintextSize)
	}
	return []string{l.Bucket, l.Key, l.VersionID, l.Status, l.Reason, fmt.Sprint(l.Encrypted), l.Format, l.ContentSuite,
		l.WrapAlgorithm, l.KMSKeyID, strings.Join(l.ContextKeys, ";"), size, l.EnvelopeLocation, l.ErrorCode, l.Message}
}

// text is the line of inspect --output text for many objects.
func (l inspectLine) text() string {
	u := taskURL(bulk.Task{Bucket: l.Bucket, Key: l.Key, VersionId: l.VersionID})
	switch {
	case l.Status == "failed":
		return u + ": failed: " + l.Message
	case !l.Encrypted:
		r := l.Reason
		if r == "" {
			r = "not-encrypted"
		}
		return u + ": " + r
	}
	s := fmt.Sprintf("%s: %s %s, wrap %s", u, l.Format, l.ContentSuite, l.WrapAlgorithm)
	if l.KMSKeyID != "" {
		s += ", KMS key " + l.KMSKeyID
	}
	if len(l.ContextKeys) > 0 {
		s += ", context keys " + strings.Join(l.ContextKeys, ",")
	}
	if l.PlaintextSize != nil {
		s += fmt.Sprintf(", %d bytes", *l.PlaintextSize)
	}
	return s + ", envelope in " + l.EnvelopeLocation
}
