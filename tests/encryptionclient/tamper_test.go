package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// The tamper matrix: objects of every format the library reads, under every
// keyring, altered in every stored byte that matters, read back through
// the client with the strict default policy, with the permissive migration
// policy (buffered and delayed authentication) and with Download. Every
// altered object must fail with a typed error and, in the buffered modes,
// release no plaintext at all; the only other acceptable outcome is the
// original plaintext, for fields that are documented as unauthenticated
// (a local keyring's material description, the informational plaintext
// length, optional keys). An altered plaintext is always a failure.

// tamperClasses are the typed error classes of the library.
var tamperClasses = []error{
	encryptionclient.ErrAuthentication, encryptionclient.ErrCommitmentMismatch, encryptionclient.ErrMalformed,
	encryptionclient.ErrPolicy, encryptionclient.ErrInvalidCiphertext, encryptionclient.ErrUnwrap,
	encryptionclient.ErrContextMismatch, encryptionclient.ErrNotEncrypted, materials.ErrNotMine,
}

func tamperClassOf(err error) string {
	names := []string{"ErrAuthentication", "ErrCommitmentMismatch", "ErrMalformed", "ErrPolicy", "ErrInvalidCiphertext",
		"ErrUnwrap", "ErrContextMismatch", "ErrNotEncrypted", "ErrNotMine"}
	for i, c := range tamperClasses {
		if errors.Is(err, c) {
			return names[i]
		}
	}
	return ""
}

// tamperObj is what S3 stores for one object: body, user metadata and the
// instruction file (nil: none).
type tamperObj struct {
	body  []byte
	meta  map[string]string
	instr map[string]string
	raw   []byte // instruction-file bytes that are not a JSON object of strings
}

func (o *tamperObj) clone() *tamperObj {
	return &tamperObj{body: bytes.Clone(o.body), meta: maps.Clone(o.meta), instr: maps.Clone(o.instr), raw: bytes.Clone(o.raw)}
}

// field returns the map that holds envelope key k, or nil.
func (o *tamperObj) field(k string) map[string]string {
	if _, ok := o.meta[k]; ok {
		return o.meta
	}
	if _, ok := o.instr[k]; ok {
		return o.instr
	}
	return nil
}

func (o *tamperObj) instrBytes() []byte {
	if o.raw != nil {
		return o.raw
	}
	if o.instr == nil {
		return nil
	}
	b, err := json.Marshal(o.instr)
	if err != nil {
		panic(err)
	}
	return b
}

// loadTamperObj reads an object and its instruction file as stored.
func (e *env) loadTamperObj(key string) *tamperObj {
	e.t.Helper()
	body, meta, err := e.raw(key)
	if err != nil {
		e.t.Fatal(err)
	}
	o := &tamperObj{body: body, meta: map[string]string{}}
	for k, v := range meta {
		o.meta[strings.ToLower(k)] = v
	}
	if ib, _, err := e.raw(key + envelope.DefaultInstructionSuffix); err == nil {
		if err := json.Unmarshal(ib, &o.instr); err != nil {
			e.t.Fatalf("instruction file of %s: %v", key, err)
		}
	}
	return o
}

// storeTamperObj stores o under key, with or without an instruction file.
func (e *env) storeTamperObj(key string, o *tamperObj) {
	e.t.Helper()
	e.putRaw(key, o.body, o.meta)
	ik := key + envelope.DefaultInstructionSuffix
	if ib := o.instrBytes(); ib != nil {
		e.putRaw(ik, ib, nil)
	} else if e.exists(ik) {
		if _, err := e.plain.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(ik)}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// tamperMutation alters a stored object.
type tamperMutation struct {
	name string
	// apply alters o (other is another object of the same format and
	// keyring); it returns false when the mutation does not apply.
	apply func(o, other *tamperObj) bool
	want  []error
	// benign reports that the original plaintext is an acceptable outcome
	// (an unauthenticated or optional field), for the keyring named.
	benign func(kr string) bool
}

func never(string) bool  { return false }
func always(string) bool { return true }
func localOnly(kr string) bool {
	return kr != "kms"
}

var (
	wantAuth      = []error{encryptionclient.ErrAuthentication}
	wantCommit    = []error{encryptionclient.ErrCommitmentMismatch}
	wantMalformed = []error{encryptionclient.ErrMalformed, encryptionclient.ErrNotEncrypted}
	wantUnwrap    = []error{encryptionclient.ErrUnwrap, encryptionclient.ErrContextMismatch, encryptionclient.ErrMalformed}
	// A downgrade to a legacy wrap is refused by the keyring's opt-in.
	wantLegacy = []error{encryptionclient.ErrPolicy, encryptionclient.ErrUnwrap, encryptionclient.ErrContextMismatch, encryptionclient.ErrMalformed}
	// Another wrap algorithm is not the keyring's.
	wantOtherWrap = []error{materials.ErrNotMine, encryptionclient.ErrUnwrap, encryptionclient.ErrMalformed}
	wantAnyEnv    = []error{encryptionclient.ErrMalformed, encryptionclient.ErrNotEncrypted, encryptionclient.ErrUnwrap,
		encryptionclient.ErrContextMismatch, encryptionclient.ErrAuthentication, encryptionclient.ErrCommitmentMismatch}
)

func bodyMutation(name string, f func(b []byte) []byte) tamperMutation {
	return tamperMutation{name: "body/" + name, want: wantAuth, benign: never, apply: func(o, _ *tamperObj) bool {
		o.body = f(o.body)
		return true
	}}
}

func flipAt(i func(n int) int, bit byte) func([]byte) []byte {
	return func(b []byte) []byte {
		b[i(len(b))] ^= bit
		return b
	}
}

// binaryFields are the base64 envelope fields, with the error a flipped
// bit must give.
var binaryFields = map[string][]error{
	envelope.KeyV2WrappedKey: wantUnwrap, envelope.KeyV3WrappedKey: wantUnwrap,
	envelope.KeyIV: wantAuth, envelope.KeyV3MessageID: wantCommit, envelope.KeyV3Commitment: wantCommit,
}

// optionalFields may be absent: removing them changes nothing.
var optionalFields = map[string]func(string) bool{
	envelope.KeyTagLen: always, envelope.KeyUnencryptedLength: always,
	envelope.KeyMatDesc: localOnly, envelope.KeyV3MatDesc: localOnly,
}

// descriptionFields hold the material description or KMS context.
var descriptionFields = []string{envelope.KeyMatDesc, envelope.KeyV3Context, envelope.KeyV3MatDesc}

func b64flip(v string, f func([]byte) []byte) string {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(f(b))
}

// fieldMutations are the mutations of every envelope field.
func fieldMutations() []tamperMutation {
	var ms []tamperMutation
	all := []string{
		envelope.KeyV2WrappedKey, envelope.KeyIV, envelope.KeyMatDesc, envelope.KeyWrapAlg, envelope.KeyCEKAlg,
		envelope.KeyTagLen, envelope.KeyUnencryptedLength, envelope.KeyV3Content, envelope.KeyV3WrappedKey,
		envelope.KeyV3Wrap, envelope.KeyV3Commitment, envelope.KeyV3MessageID, envelope.KeyV3Context, envelope.KeyV3MatDesc,
	}
	for _, k := range all {
		benign := never
		if b, ok := optionalFields[k]; ok {
			benign = b
		}
		ms = append(ms,
			tamperMutation{name: "field/" + k + "/delete", want: wantAnyEnv, benign: benign, apply: func(o, _ *tamperObj) bool {
				m := o.field(k)
				delete(m, k)
				return m != nil
			}},
			tamperMutation{name: "field/" + k + "/empty", want: wantAnyEnv, benign: benign, apply: func(o, _ *tamperObj) bool {
				m := o.field(k)
				if m != nil {
					m[k] = ""
				}
				return m != nil
			}},
		)
		if want, ok := binaryFields[k]; ok {
			ms = append(ms,
				tamperMutation{name: "field/" + k + "/flip-bit", want: want, benign: never, apply: func(o, _ *tamperObj) bool {
					m := o.field(k)
					if m != nil {
						m[k] = b64flip(m[k], func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b })
					}
					return m != nil
				}},
				tamperMutation{name: "field/" + k + "/one-byte-short", want: append(slices.Clone(want), wantMalformed...), benign: never, apply: func(o, _ *tamperObj) bool {
					m := o.field(k)
					if m != nil {
						m[k] = b64flip(m[k], func(b []byte) []byte { return b[:len(b)-1] })
					}
					return m != nil
				}},
				tamperMutation{name: "field/" + k + "/not-base64", want: wantMalformed, benign: never, apply: func(o, _ *tamperObj) bool {
					m := o.field(k)
					if m != nil {
						m[k] = "!!" + m[k]
					}
					return m != nil
				}},
			)
			continue
		}
		// Text fields: change the last character.
		benignEdit := never
		if k == envelope.KeyUnencryptedLength {
			benignEdit = always // informational, never trusted
		}
		ms = append(ms, tamperMutation{name: "field/" + k + "/edit", want: wantAnyEnv, benign: benignEdit, apply: func(o, _ *tamperObj) bool {
			m := o.field(k)
			if m != nil {
				v := []byte(m[k])
				v[len(v)-1] ^= 1
				m[k] = string(v)
			}
			return m != nil
		}})
	}
	for _, k := range descriptionFields {
		ms = append(ms,
			tamperMutation{name: "context/" + k + "/add-entry", want: wantUnwrap, benign: localOnly, apply: func(o, _ *tamperObj) bool {
				return editDescription(o, k, func(d map[string]string) { d["attacker"] = "was-here" })
			}},
			tamperMutation{name: "context/" + k + "/other-suite", want: wantUnwrap, benign: localOnly, apply: func(o, _ *tamperObj) bool {
				return editDescription(o, k, func(d map[string]string) {
					if d[envelope.ReservedContextKey] == envelope.SuiteAESGCM.CipherName() {
						d[envelope.ReservedContextKey] = envelope.SuiteAESGCMCommitting.CipherName()
					} else {
						d[envelope.ReservedContextKey] = envelope.SuiteAESGCM.CipherName()
					}
				})
			}},
			tamperMutation{name: "context/" + k + "/not-json", want: wantMalformed, benign: never, apply: func(o, _ *tamperObj) bool {
				m := o.field(k)
				if m != nil {
					m[k] = "{not json"
				}
				return m != nil
			}},
		)
	}
	return ms
}

func editDescription(o *tamperObj, k string, f func(map[string]string)) bool {
	m := o.field(k)
	if m == nil {
		return false
	}
	d := map[string]string{}
	if err := json.Unmarshal([]byte(m[k]), &d); err != nil {
		panic(err)
	}
	f(d)
	b, _ := json.Marshal(d)
	m[k] = string(b)
	return true
}

// structuralMutations swap, mix and downgrade envelopes.
func structuralMutations() []tamperMutation {
	ones := bytes.Repeat([]byte{1}, envelope.GCMIVSize)
	return []tamperMutation{
		bodyMutation("flip-first-byte", flipAt(func(int) int { return 0 }, 0x01)),
		bodyMutation("flip-middle-byte", flipAt(func(n int) int { return n / 2 }, 0x80)),
		bodyMutation("flip-last-ciphertext-byte", flipAt(func(n int) int { return n - envelope.TagSize - 1 }, 0x01)),
		bodyMutation("flip-first-tag-byte", flipAt(func(n int) int { return n - envelope.TagSize }, 0x01)),
		bodyMutation("flip-last-tag-byte", flipAt(func(n int) int { return n - 1 }, 0x80)),
		bodyMutation("truncate-1", func(b []byte) []byte { return b[:len(b)-1] }),
		bodyMutation("truncate-15", func(b []byte) []byte { return b[:len(b)-15] }),
		bodyMutation("drop-tag", func(b []byte) []byte { return b[:len(b)-envelope.TagSize] }),
		bodyMutation("only-tag", func(b []byte) []byte { return b[len(b)-envelope.TagSize:] }),
		bodyMutation("15-bytes", func(b []byte) []byte { return b[:15] }),
		bodyMutation("empty", func(b []byte) []byte { return b[:0] }),
		bodyMutation("extend-1", func(b []byte) []byte { return append(b, 0) }),
		bodyMutation("extend-16", func(b []byte) []byte { return append(b, make([]byte, 16)...) }),
		bodyMutation("doubled", func(b []byte) []byte { return append(b, b...) }),
		bodyMutation("swap-first-blocks", func(b []byte) []byte {
			x := bytes.Clone(b[:16])
			copy(b[:16], b[16:32])
			copy(b[16:32], x)
			return b
		}),
		{name: "body/other-objects-body", want: wantAuth, benign: never, apply: func(o, other *tamperObj) bool {
			o.body = bytes.Clone(other.body)
			return true
		}},
		{name: "swap/wrapped-key-from-other-object", want: append(slices.Clone(wantAuth), encryptionclient.ErrCommitmentMismatch), benign: never, apply: func(o, other *tamperObj) bool {
			for _, k := range []string{envelope.KeyV2WrappedKey, envelope.KeyV3WrappedKey} {
				if m := o.field(k); m != nil {
					m[k] = other.field(k)[k]
					return true
				}
			}
			return false
		}},
		{name: "swap/instruction-file-from-other-object", want: append(slices.Clone(wantAuth), encryptionclient.ErrCommitmentMismatch), benign: never, apply: func(o, other *tamperObj) bool {
			if o.instr == nil {
				return false
			}
			o.instr = maps.Clone(other.instr)
			return true
		}},
		{name: "swap/whole-envelope-from-other-object", want: wantAuth, benign: never, apply: func(o, other *tamperObj) bool {
			o.meta, o.instr = maps.Clone(other.meta), maps.Clone(other.instr)
			return true
		}},
		{name: "instruction-file/delete", want: wantMalformed, benign: never, apply: func(o, _ *tamperObj) bool {
			if o.instr == nil {
				return false
			}
			o.instr = nil
			return true
		}},
		{name: "instruction-file/not-json", want: wantMalformed, benign: never, apply: func(o, _ *tamperObj) bool {
			if o.instr == nil {
				return false
			}
			o.instr, o.raw = nil, []byte("not json")
			return true
		}},
		{name: "instruction-file/planted-beside-metadata-envelope", want: nil, benign: always, apply: func(o, other *tamperObj) bool {
			if o.instr != nil || other.instr != nil {
				return false
			}
			o.instr = maps.Clone(other.meta) // ignored: the object's metadata holds the whole envelope
			return true
		}},
		{name: "instruction-file/content-keys-moved-in", want: wantMalformed, benign: never, apply: func(o, _ *tamperObj) bool {
			if o.instr == nil || o.meta[envelope.KeyV3Content] == "" {
				return false
			}
			for _, k := range []string{envelope.KeyV3Content, envelope.KeyV3Commitment, envelope.KeyV3MessageID} {
				o.instr[k] = o.meta[k]
				delete(o.meta, k)
			}
			return true
		}},
		{name: "instruction-file/content-keys-copied-in", want: wantMalformed, benign: never, apply: func(o, _ *tamperObj) bool {
			if o.instr == nil || o.meta[envelope.KeyV3Content] == "" {
				return false
			}
			o.instr[envelope.KeyV3Commitment] = o.meta[envelope.KeyV3Commitment]
			return true
		}},
		{name: "mix/add-v3-content-keys-to-v2", want: wantMalformed, benign: always, apply: func(o, other *tamperObj) bool {
			if o.field(envelope.KeyV2WrappedKey) == nil {
				return false
			}
			o.meta[envelope.KeyV3Content] = "115"
			o.meta[envelope.KeyV3Wrap] = "12"
			o.meta[envelope.KeyV3Commitment] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 28))
			o.meta[envelope.KeyV3MessageID] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 28))
			return true
		}},
		{name: "mix/add-v3-wrapped-key-to-v2", want: wantMalformed, benign: never, apply: func(o, _ *tamperObj) bool {
			m := o.field(envelope.KeyV2WrappedKey)
			if m == nil {
				return false
			}
			m[envelope.KeyV3WrappedKey] = m[envelope.KeyV2WrappedKey]
			m[envelope.KeyV3Content] = "115"
			m[envelope.KeyV3Wrap] = "12"
			return true
		}},
		// In the metadata layout the V2 keys make the envelope malformed; in
		// an instruction file of the split layout they are ignored (only
		// x-amz-3, -w, -m and -t are read from it), so the original
		// plaintext is the other safe outcome.
		{name: "mix/add-v2-keys-to-v3", want: wantMalformed, benign: always, apply: func(o, _ *tamperObj) bool {
			m := o.field(envelope.KeyV3WrappedKey)
			if m == nil {
				return false
			}
			m[envelope.KeyIV] = base64.StdEncoding.EncodeToString(ones)
			m[envelope.KeyCEKAlg] = envelope.SuiteAESGCM.CipherName()
			return true
		}},
		{name: "downgrade/v3-content-to-v2-name", want: wantMalformed, benign: never, apply: func(o, _ *tamperObj) bool {
			m := o.field(envelope.KeyV3Content)
			if m == nil {
				return false
			}
			m[envelope.KeyV3Content] = envelope.SuiteAESGCM.CipherName()
			return true
		}},
		{name: "downgrade/v3-rewritten-as-v2", want: wantUnwrap, benign: never, apply: func(o, _ *tamperObj) bool {
			// The V3 data key, presented as a V2 object with the V3 nonce:
			// a reader that accepted it would use the data key directly.
			if o.field(envelope.KeyV3WrappedKey) == nil {
				return false
			}
			all := maps.Clone(o.meta)
			maps.Copy(all, o.instr)
			wrap := map[string]string{"02": "AES/GCM", "12": "kms+context", "22": "RSA-OAEP-SHA1"}[all[envelope.KeyV3Wrap]]
			desc := all[envelope.KeyV3Context] + all[envelope.KeyV3MatDesc]
			if desc == "" {
				desc = "{}"
			}
			o.meta = map[string]string{
				envelope.KeyV2WrappedKey: all[envelope.KeyV3WrappedKey], envelope.KeyIV: base64.StdEncoding.EncodeToString(ones),
				envelope.KeyCEKAlg: envelope.SuiteAESGCM.CipherName(), envelope.KeyWrapAlg: wrap, envelope.KeyMatDesc: desc,
				envelope.KeyTagLen: "128",
			}
			o.instr = nil
			return true
		}},
		{name: "downgrade/gcm-to-cbc", want: wantUnwrap, benign: never, apply: func(o, _ *tamperObj) bool {
			m := o.field(envelope.KeyCEKAlg)
			if m == nil {
				return false
			}
			m[envelope.KeyCEKAlg] = envelope.SuiteAESCBC.CipherName()
			delete(m, envelope.KeyTagLen)
			return true
		}},
		{name: "downgrade/kms-context-to-legacy-kms", want: wantLegacy, benign: never, apply: func(o, _ *tamperObj) bool {
			m := o.field(envelope.KeyWrapAlg)
			if m == nil || m[envelope.KeyWrapAlg] != "kms+context" {
				return false
			}
			m[envelope.KeyWrapAlg] = "kms"
			return true
		}},
		{name: "downgrade/aes-gcm-wrap-to-aeswrap", want: wantLegacy, benign: never, apply: func(o, _ *tamperObj) bool {
			m := o.field(envelope.KeyWrapAlg)
			if m == nil || m[envelope.KeyWrapAlg] != "AES/GCM" {
				return false
			}
			m[envelope.KeyWrapAlg] = "AESWrap"
			return true
		}},
		{name: "downgrade/rsa-oaep-sha1-to-sha256", want: wantLegacy, benign: never, apply: func(o, _ *tamperObj) bool {
			m := o.field(envelope.KeyWrapAlg)
			if m == nil || m[envelope.KeyWrapAlg] != "RSA-OAEP-SHA1" {
				return false
			}
			m[envelope.KeyWrapAlg] = "RSA/ECB/OAEPWithSHA-256AndMGF1Padding"
			return true
		}},
		{name: "downgrade/v3-wrap-code-switched", want: wantOtherWrap, benign: never, apply: func(o, _ *tamperObj) bool {
			m := o.field(envelope.KeyV3Wrap)
			if m == nil {
				return false
			}
			m[envelope.KeyV3Wrap] = map[string]string{"02": "22", "12": "02", "22": "12"}[m[envelope.KeyV3Wrap]]
			return true
		}},
	}
}

// tamperReader is one way of reading an altered object.
type tamperReader struct {
	name   string
	strict bool // the default policy
	read   func(ctx context.Context, key string) (plaintext []byte, released int, err error)
}

// tamperFormat is a way of writing objects.
type tamperFormat struct {
	name  string
	write func(*encryptionclient.Options)
	v2    bool
}

var tamperFormats = []tamperFormat{
	{"V3", func(*encryptionclient.Options) {}, false},
	{"V3-split", func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }, false},
	{"V2", func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt }, true},
	{"V2-instruction-file", func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt
		o.EnvelopeStorage = encryptionclient.StoreInstructionFile
	}, true},
}

// tamperReaders returns the strict, buffered; the permissive, buffered;
// the permissive, delayed; and Download.
func (e *env) tamperReaders(kr materials.Keyring) []tamperReader {
	strict := e.client(kr)
	allow := func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }
	permissive := e.client(kr, allow)
	delayed := e.client(kr, allow, func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true })
	buffered := func(c *encryptionclient.Client) func(ctx context.Context, key string) ([]byte, int, error) {
		return func(ctx context.Context, key string) ([]byte, int, error) {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
			if err != nil {
				if out != nil {
					return nil, 1, err // an output with an error counts as released
				}
				return nil, 0, err
			}
			defer out.Body.Close()
			b, err := io.ReadAll(out.Body)
			return b, len(b), err
		}
	}
	return []tamperReader{
		{"strict", true, buffered(strict)},
		{"permissive", false, buffered(permissive)},
		{"permissive-delayed", false, func(ctx context.Context, key string) ([]byte, int, error) {
			out, err := delayed.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
			if err != nil {
				return nil, 0, err
			}
			defer out.Body.Close()
			b, err := io.ReadAll(out.Body)
			if err != nil {
				return nil, 0, err // delayed mode: what was read before the final error is discarded
			}
			return b, len(b), nil
		}},
		{"permissive-download", false, func(ctx context.Context, key string) ([]byte, int, error) {
			var w tamperBufferAt
			n, err := permissive.Download(ctx, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
			if err != nil {
				return nil, 0, err
			}
			return w.buf[:n], int(n), nil
		}},
	}
}

// tamperBufferAt is an io.WriterAt in memory, safe for concurrent use.
type tamperBufferAt struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tamperBufferAt) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if need := int(off) + len(p); need > len(b.buf) {
		b.buf = append(b.buf, make([]byte, need-len(b.buf))...)
	}
	copy(b.buf[off:], p)
	return len(p), nil
}

// tamperTally counts the cases of the matrix.
type tamperTally struct {
	cases, failed, benign, skipped int
	byClass, benignBy              map[string]int
}

// check judges one read of an altered object.
func (tl *tamperTally) check(t *testing.T, label string, m tamperMutation, kr string, v2 bool, r tamperReader, original, got []byte, released int, err error) {
	t.Helper()
	tl.cases++
	strictOnV2 := r.strict && v2
	if err == nil {
		if strictOnV2 {
			t.Errorf("%s: the default policy read a V2 object", label)
			return
		}
		if m.benign(kr) && bytes.Equal(got, original) {
			tl.benign++
			tl.benignBy[m.name]++
			return
		}
		if !bytes.Equal(got, original) {
			t.Errorf("%s: ALTERED PLAINTEXT RELEASED (%d bytes)", label, len(got))
		} else {
			t.Errorf("%s: altered object read without error", label)
		}
		return
	}
	if released != 0 {
		t.Errorf("%s: %d plaintext bytes released with error %v", label, released, err)
	}
	class := tamperClassOf(err)
	if class == "" {
		t.Errorf("%s: untyped error %v", label, err)
		return
	}
	want := m.want
	if r.strict {
		want = append(slices.Clone(want), encryptionclient.ErrPolicy)
	}
	if strictOnV2 {
		want = []error{encryptionclient.ErrPolicy, encryptionclient.ErrMalformed, encryptionclient.ErrNotEncrypted}
	}
	ok := false
	for _, w := range want {
		ok = ok || errors.Is(err, w)
	}
	if !ok {
		t.Errorf("%s: error of class %s, want one of %v: %v", label, class, want, err)
	}
	tl.failed++
	tl.byClass[class]++
}

func TestTamperMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mutations := append(structuralMutations(), fieldMutations()...)
	tl := &tamperTally{byClass: map[string]int{}, benignBy: map[string]int{}}
	plaintext := randBytes(t, 1000)
	for _, f := range tamperFormats {
		for _, krName := range []string{"kms", "aes", "rsa"} {
			kr := e.krs[krName]
			w := e.client(kr, f.write)
			base := fmt.Sprintf("tamper/%s/%s/", f.name, krName)
			if err := e.put(w, ctx, base+"a", plaintext); err != nil {
				t.Fatal(err)
			}
			if err := e.put(w, ctx, base+"b", randBytes(t, len(plaintext))); err != nil {
				t.Fatal(err)
			}
			a, b := e.loadTamperObj(base+"a"), e.loadTamperObj(base+"b")
			readers := e.tamperReaders(kr)
			// The untouched object reads (or, V2 under the default policy, is refused).
			for _, r := range readers {
				got, _, err := r.read(ctx, base+"a")
				if r.strict && f.v2 {
					if !errors.Is(err, encryptionclient.ErrPolicy) {
						t.Fatalf("%s%s: default policy on V2: %v", base, r.name, err)
					}
					tl.cases++
					tl.failed++
					tl.byClass["ErrPolicy"]++
					continue
				}
				if err != nil || !bytes.Equal(got, plaintext) {
					t.Fatalf("%s untouched, %s: %v", base, r.name, err)
				}
			}
			for i, m := range mutations {
				o := a.clone()
				if !m.apply(o, b.clone()) {
					tl.skipped++
					continue
				}
				key := fmt.Sprintf("%sm%03d", base, i)
				e.storeTamperObj(key, o)
				for _, r := range readers {
					got, released, err := r.read(ctx, key)
					tl.check(t, fmt.Sprintf("%s %s %s [%s]", f.name, krName, m.name, r.name), m, krName, f.v2, r, plaintext, got, released, err)
				}
			}
		}
	}
	t.Logf("tamper matrix: %d cases (%d typed failures, %d benign reads of unauthenticated fields giving the original plaintext; %d mutation/format pairs not applicable); failures by class: %v; benign reads by mutation: %v",
		tl.cases, tl.failed, tl.benign, tl.skipped, tl.byClass, tl.benignBy)
}

// TestTamperVectors alters objects that AWS's own clients wrote (V1, V2,
// V3; legacy CBC, legacy kms, raw AES and RSA wraps; instruction files) and
// reads them with the opt-ins each needs.
func TestTamperVectors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	vs, err := testvectors.Load(testvectors.Dir())
	if err != nil {
		t.Fatal(err)
	}
	// One positive vector per group, format, content, wrap and location.
	seen := map[string]bool{}
	var picked []*testvectors.Vector
	for _, v := range vs {
		sig := strings.Join([]string{v.Group, v.Format, v.ContentAlgorithm, v.WrapAlgorithm, v.MetadataLocation}, "|")
		if v.Negative() || seen[sig] || v.CiphertextRef.Size < 48 || v.CiphertextRef.Size > 64<<10 || len(v.UserEncryptionContext) > 0 {
			continue
		}
		seen[sig] = true
		picked = append(picked, v)
	}
	type vm struct {
		name  string
		apply func(o *tamperObj, cbc bool) bool
		want  func(cbc bool) []error
	}
	fixed := func(errs ...error) func(bool) []error { return func(bool) []error { return errs } }
	bodyErr := func(cbc bool) []error {
		if cbc {
			return []error{encryptionclient.ErrInvalidCiphertext}
		}
		return wantAuth
	}
	mutations := []vm{
		{"body/truncate-1", func(o *tamperObj, _ bool) bool { o.body = o.body[:len(o.body)-1]; return true }, bodyErr},
		{"body/extend-1", func(o *tamperObj, _ bool) bool { o.body = append(o.body, 0); return true }, bodyErr},
		{"body/empty", func(o *tamperObj, _ bool) bool { o.body = o.body[:0]; return true }, bodyErr},
		{"body/flip-tag", func(o *tamperObj, cbc bool) bool {
			o.body[len(o.body)-1] ^= 1
			return !cbc // CBC has no tag: a flipped bit may decrypt silently
		}, bodyErr},
		{"wrapped-key/flip-bit", func(o *tamperObj, _ bool) bool {
			for _, k := range []string{envelope.KeyV1WrappedKey, envelope.KeyV2WrappedKey, envelope.KeyV3WrappedKey} {
				if m := o.field(k); m != nil {
					m[k] = b64flip(m[k], func(b []byte) []byte { b[len(b)/2] ^= 4; return b })
					return true
				}
			}
			return false
		}, func(cbc bool) []error {
			if cbc {
				// The legacy AES (ECB) and RSA (PKCS#1 v1.5) wraps have
				// no integrity: a garbled key may unwrap and then fail
				// as CBC padding.
				return append(slices.Clone(wantUnwrap), encryptionclient.ErrInvalidCiphertext)
			}
			return wantUnwrap
		}},
		{"iv/delete", func(o *tamperObj, _ bool) bool {
			m := o.field(envelope.KeyIV)
			delete(m, envelope.KeyIV)
			return m != nil
		}, fixed(wantMalformed...)},
		{"cek-alg/unknown", func(o *tamperObj, _ bool) bool {
			m := o.meta
			if o.instr != nil {
				m = o.instr
			}
			if o.field(envelope.KeyV3Content) != nil {
				return false
			}
			m[envelope.KeyCEKAlg] = "AES/XTS/NoPadding"
			return true
		}, fixed(wantMalformed...)},
		{"cek-alg/swap-gcm-and-cbc", func(o *tamperObj, cbc bool) bool {
			m := o.field(envelope.KeyCEKAlg)
			if m == nil {
				return false
			}
			if cbc {
				m[envelope.KeyCEKAlg] = envelope.SuiteAESGCM.CipherName()
			} else {
				m[envelope.KeyCEKAlg] = envelope.SuiteAESCBC.CipherName()
				delete(m, envelope.KeyTagLen)
			}
			return true
		}, fixed(wantUnwrap...)},
		{"v3/commitment-flip", func(o *tamperObj, _ bool) bool {
			m := o.field(envelope.KeyV3Commitment)
			if m != nil {
				m[envelope.KeyV3Commitment] = b64flip(m[envelope.KeyV3Commitment], func(b []byte) []byte { b[0] ^= 1; return b })
			}
			return m != nil
		}, fixed(wantCommit...)},
	}
	cases, strictRefusals := 0, 0
	for i, v := range picked {
		kr := tamperVectorKeyring(t, e, v)
		cbc := strings.Contains(v.ContentAlgorithm, "CBC")
		permissive := e.client(kr, func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
			o.EnableLegacyUnauthenticatedModes = v.OptionBool("enable_legacy_unauthenticated_modes") || cbc
		})
		delayed := e.client(kr, func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
			o.EnableLegacyUnauthenticatedModes = v.OptionBool("enable_legacy_unauthenticated_modes") || cbc
			o.EnableDelayedAuthentication = true
		})
		strict := e.client(kr)
		orig := &tamperObj{meta: maps.Clone(v.Metadata)}
		if orig.body, err = v.Ciphertext(); err != nil {
			t.Fatal(err)
		}
		if v.InstructionFile != nil {
			if err := json.Unmarshal([]byte(v.InstructionFile.Body), &orig.instr); err != nil {
				t.Fatal(err)
			}
		}
		want, _ := v.Plaintext()
		dir := fmt.Sprintf("vec/%03d/", i) // a real server's file system cannot hold "a" and "a/b"
		base := dir + "original"
		e.storeTamperObj(base, orig)
		// The untouched vector reads with the opt-ins; the default policy
		// refuses everything that is not key-committing.
		if got, err := e.get(permissive, ctx, base); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s untouched: %v", v.Name, err)
		}
		got, err := e.get(strict, ctx, base)
		cases++
		if v.Format == "v3" {
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s strict: %v", v.Name, err)
			}
		} else {
			if !errors.Is(err, encryptionclient.ErrPolicy) || got != nil {
				t.Fatalf("%s: default policy gave %v", v.Name, err)
			}
			strictRefusals++
		}
		for j, m := range mutations {
			o := orig.clone()
			if !m.apply(o, cbc) {
				continue
			}
			key := fmt.Sprintf("%sm%02d", dir, j)
			e.storeTamperObj(key, o)
			for rn, c := range map[string]*encryptionclient.Client{"permissive": permissive, "delayed": delayed} {
				cases++
				label := fmt.Sprintf("%s %s [%s]", v.Name, m.name, rn)
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
				if err == nil {
					if rn != "delayed" {
						t.Errorf("%s: GetObject released an output for an altered object", label)
					}
					got, rerr := io.ReadAll(out.Body)
					out.Body.Close()
					if rerr == nil {
						t.Errorf("%s: read without error (%d bytes)", label, len(got))
						continue
					}
					err = rerr // delayed authentication: the final Read fails
				} else if out != nil {
					t.Errorf("%s: output with error", label)
				}
				ok := false
				for _, w := range m.want(cbc) {
					ok = ok || errors.Is(err, w)
				}
				if !ok {
					t.Errorf("%s: %v (class %q), want %v", label, err, tamperClassOf(err), m.want(cbc))
				}
			}
		}
	}
	t.Logf("vector tamper cases: %d over %d vectors (%d refused by the default policy untouched)", cases, len(picked), strictRefusals)
}

// tamperVectorKeyring builds the keyring of a vector, legacy wraps
// enabled, with its KMS data keys imported into the test KMS.
func tamperVectorKeyring(t *testing.T, e *env, v *testvectors.Vector) materials.Keyring {
	t.Helper()
	mustB64 := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if k := v.Keyring; k != nil {
		var kr materials.Keyring
		var err error
		switch k.Type {
		case "aes":
			var extra []materials.AESKey
			for _, a := range k.AdditionalDecryptionKeys {
				extra = append(extra, materials.AESKey{Key: mustB64(a.KeyB64), MaterialDescription: a.MaterialDescription})
			}
			kr, err = materials.NewAESKeyring(mustB64(k.KeyB64), func(o *materials.AESKeyringOptions) {
				o.MaterialDescription, o.AdditionalKeys, o.EnableLegacyWrapping = k.MaterialDescription, extra, true
			})
		case "rsa":
			p, perr := materials.ParseRSAPrivateKey([]byte(k.PrivateKeyPEM))
			if perr != nil {
				t.Fatal(perr)
			}
			var extra []materials.RSAKey
			for _, a := range k.AdditionalDecryptionKeys {
				ap, err := materials.ParseRSAPrivateKey([]byte(a.PrivateKeyPEM))
				if err != nil {
					t.Fatal(err)
				}
				extra = append(extra, materials.RSAKey{PrivateKey: ap, MaterialDescription: a.MaterialDescription})
			}
			kr, err = materials.NewRSAKeyring(&p.PublicKey, p, func(o *materials.RSAKeyringOptions) {
				o.MaterialDescription, o.AdditionalKeys, o.EnableLegacyWrapping = k.MaterialDescription, extra, true
			})
		default:
			t.Fatalf("keyring type %q", k.Type)
		}
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	for _, x := range v.KMS {
		e.kms.ImportDataKey(x.KeyID, mustB64(x.CiphertextBlobB64), x.EncryptionContext, mustB64(x.PlaintextKeyB64))
	}
	kr, err := materials.NewKMSKeyring(e.kms.Client(), v.KMS[0].KeyID, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = true })
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// --- The invisible-salamanders attack (GHSA-3g75-q268-r9r6) ---
//
// An attacker who may write to the bucket and may encrypt with the
// keyring (any writer may: it only needs data keys) builds ONE ciphertext
// that authenticates under TWO data keys, AES-GCM not being key-committing,
// and stores the object with the instruction file of the first key. Readers
// see plaintext 1. Later it swaps the instruction file (or only its wrapped
// key) for the second key's: readers would see plaintext 2, also
// "authenticated". Against V2 objects this works (which is why the default
// policy refuses them); against V3 objects the key commitment on the
// object (x-amz-d, which an instruction file may not carry) pins the first
// key, and the swap fails with ErrCommitmentMismatch.

// gf is an element of GF(2^128) in GCM's bit order (hi = bytes 0..7).
type gf struct{ hi, lo uint64 }

func gfFromBytes(b []byte) gf {
	var x gf
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

func (x gf) bytes() []byte {
	b := make([]byte, 16)
	for i := 0; i < 8; i++ {
		b[i] = byte(x.hi >> (56 - 8*i))
		b[8+i] = byte(x.lo >> (56 - 8*i))
	}
	return b
}

func (x gf) add(y gf) gf { return gf{x.hi ^ y.hi, x.lo ^ y.lo} }

// mul is the GCM multiplication (NIST SP 800-38D, algorithm 1).
func (x gf) mul(y gf) gf {
	var z gf
	v := y
	for i := 0; i < 128; i++ {
		var bit uint64
		if i < 64 {
			bit = x.hi >> (63 - i) & 1
		} else {
			bit = x.lo >> (127 - i) & 1
		}
		if bit == 1 {
			z = z.add(v)
		}
		lsb := v.lo & 1
		v.lo = v.lo>>1 | v.hi<<63
		v.hi >>= 1
		if lsb == 1 {
			v.hi ^= 0xe1 << 56
		}
	}
	return z
}

var gfOne = gf{hi: 1 << 63}

// inv returns x^(2^128-2), the inverse of x ≠ 0.
func (x gf) inv() gf {
	r := gfOne
	for i := 0; i < 128; i++ {
		r = r.mul(r)
		if i < 127 {
			r = r.mul(x)
		}
	}
	return r
}

func (x gf) pow(n int) gf {
	r := gfOne
	for range n {
		r = r.mul(x)
	}
	return r
}

// ghash computes GHASH_H over aad and ct.
func ghash(h gf, aad, ct []byte) gf {
	var y gf
	absorb := func(b []byte) {
		for len(b) > 0 {
			blk := make([]byte, 16)
			n := copy(blk, b)
			b = b[n:]
			y = y.add(gfFromBytes(blk)).mul(h)
		}
	}
	absorb(aad)
	absorb(ct)
	l := make([]byte, 16)
	for i := 0; i < 8; i++ {
		l[i] = byte(uint64(len(aad)*8) >> (56 - 8*i))
		l[8+i] = byte(uint64(len(ct)*8) >> (56 - 8*i))
	}
	return y.add(gfFromBytes(l)).mul(h)
}

// gcmKey holds what the forgery needs of one AES-GCM key and nonce.
type gcmKey struct {
	h, ej0 gf // H = E_K(0), E_K(J0)
	aead   cipher.AEAD
	nonce  []byte
}

func newGCMKey(t *testing.T, key, nonce []byte) gcmKey {
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	h := make([]byte, 16)
	b.Encrypt(h, h)
	j0 := append(bytes.Clone(nonce), 0, 0, 0, 1)
	b.Encrypt(j0, j0)
	aead, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return gcmKey{h: gfFromBytes(h), ej0: gfFromBytes(j0), aead: aead, nonce: nonce}
}

// twoKeyCiphertext returns a body (ciphertext || tag) that authenticates
// under both k1 and k2 with aad: the ciphertext of prefix under k1,
// followed by one block chosen to make the two tags equal.
func twoKeyCiphertext(t *testing.T, k1, k2 gcmKey, aad, prefix []byte) []byte {
	if len(prefix)%16 != 0 {
		t.Fatal("prefix must be whole blocks")
	}
	ct := k1.aead.Seal(nil, k1.nonce, prefix, aad)[:len(prefix)]
	ct = append(ct, make([]byte, 16)...) // the free block, zero for now
	// GHASH is linear in the free block X, whose power of H is 2 (it is
	// followed only by the length block).
	s1, s2 := ghash(k1.h, aad, ct), ghash(k2.h, aad, ct)
	rhs := k1.ej0.add(k2.ej0).add(s1).add(s2)
	x := rhs.mul(k1.h.pow(2).add(k2.h.pow(2)).inv())
	copy(ct[len(prefix):], x.bytes())
	tag := k1.ej0.add(ghash(k1.h, aad, ct))
	body := append(ct, tag.bytes()...)
	p1, err1 := k1.aead.Open(nil, k1.nonce, body, aad)
	p2, err2 := k2.aead.Open(nil, k2.nonce, body, aad)
	if err1 != nil || err2 != nil || bytes.Equal(p1, p2) {
		t.Fatalf("forgery does not open under both keys: %v, %v", err1, err2)
	}
	return body
}

func TestInvisibleSalamanders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	message := []byte("PAY 100 EUR TO ALICE, ref 2024-0001 ...........**")[:48]
	allow := func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }
	cases := 0
	for _, krName := range []string{"kms", "aes", "rsa"} {
		kr := e.krs[krName]
		strict, permissive := e.client(kr), e.client(kr, allow)
		read := func(c *encryptionclient.Client, key string) ([]byte, error) {
			cases++
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
			if err != nil {
				if out != nil {
					t.Errorf("%s: output with error", key)
				}
				return nil, err
			}
			defer out.Body.Close()
			return io.ReadAll(out.Body)
		}
		gen := func(s envelope.Suite) *materials.DataKey {
			dk, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: s, PlaintextLength: 64})
			if err != nil {
				t.Fatal(err)
			}
			return dk
		}
		instrBody := func(env *envelope.Envelope) (map[string]string, []byte) {
			meta, body, err := env.InstructionFile()
			if err != nil {
				t.Fatal(err)
			}
			return meta, body
		}

		// V2: one IV, two data keys, one body. The second instruction file
		// differs from the first only in its wrapped key.
		dk1, dk2 := gen(envelope.SuiteAESGCM), gen(envelope.SuiteAESGCM)
		env1, p1, err := envelope.NewForEncryption(envelope.SuiteAESGCM, dk1.WrapAlgorithm, dk1.Ciphertext, dk1.Description, dk1.Plaintext, 64)
		if err != nil {
			t.Fatal(err)
		}
		env2 := env1.Clone()
		env2.EncryptedKey, env2.Description = dk2.Ciphertext, dk2.Description
		body := twoKeyCiphertext(t, newGCMKey(t, p1.Key, env1.IV), newGCMKey(t, dk2.Plaintext, env1.IV), nil, message)
		key := "salamander/v2/" + krName
		meta1, instr1 := instrBody(env1)
		_, instr2 := instrBody(env2)
		e.putRaw(key, body, meta1)
		e.putRaw(key+envelope.DefaultInstructionSuffix, instr1, nil)
		first, err := read(permissive, key)
		if err != nil || !bytes.HasPrefix(first, message) {
			t.Fatalf("%s V2 with the first instruction file: %v", krName, err)
		}
		e.putRaw(key+envelope.DefaultInstructionSuffix, instr2, nil) // the attack: swap the wrapped key
		second, err := read(permissive, key)
		if err != nil || bytes.Equal(first, second) {
			t.Fatalf("%s V2: the forgery should open under the second key too (the weakness of V2): %v", krName, err)
		}
		t.Logf("%s: V2 under the migration policy: the same object reads as %q… and, after the swap, as %x… — the attack works on V2", krName, first[:24], second[:12])
		for _, instr := range [][]byte{instr1, instr2} {
			e.putRaw(key+envelope.DefaultInstructionSuffix, instr, nil)
			if got, err := read(strict, key); !errors.Is(err, encryptionclient.ErrPolicy) || got != nil {
				t.Fatalf("%s V2 under the default policy: %v", krName, err)
			}
		}

		// V3 split: the same construction under the derived keys of one
		// message id. The commitment on the object pins the first key.
		dk1, dk2 = gen(envelope.SuiteAESGCMCommitting), gen(envelope.SuiteAESGCMCommitting)
		env1, p1, err = envelope.NewForEncryption(envelope.SuiteAESGCMCommitting, dk1.WrapAlgorithm, dk1.Ciphertext, dk1.Description, dk1.Plaintext, 64)
		if err != nil {
			t.Fatal(err)
		}
		k2, commit2, err := envelope.CommittingKeys(dk2.Plaintext, env1.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		env2 = env1.Clone()
		env2.EncryptedKey, env2.Description = dk2.Ciphertext, dk2.Description
		body = twoKeyCiphertext(t, newGCMKey(t, p1.Key, p1.Nonce), newGCMKey(t, k2, p1.Nonce), p1.AAD, message)
		key = "salamander/v3/" + krName
		meta1, instr1 = instrBody(env1)
		_, instr2 = instrBody(env2)
		e.putRaw(key, body, meta1)
		e.putRaw(key+envelope.DefaultInstructionSuffix, instr1, nil)
		for _, c := range []*encryptionclient.Client{strict, permissive} {
			if got, err := read(c, key); err != nil || !bytes.HasPrefix(got, message) {
				t.Fatalf("%s V3 with the first instruction file: %v", krName, err)
			}
		}
		// The attack: swap the wrapped key. Both policies refuse it.
		e.putRaw(key+envelope.DefaultInstructionSuffix, instr2, nil)
		for _, c := range []*encryptionclient.Client{strict, permissive} {
			if got, err := read(c, key); !errors.Is(err, encryptionclient.ErrCommitmentMismatch) || got != nil {
				t.Fatalf("%s V3 after the swap: got %d bytes, %v; want ErrCommitmentMismatch", krName, len(got), err)
			}
		}
		// The attacker cannot bring its own commitment in the instruction
		// file either.
		var withCommit map[string]string
		if err := json.Unmarshal(instr2, &withCommit); err != nil {
			t.Fatal(err)
		}
		withCommit[envelope.KeyV3Commitment] = base64.StdEncoding.EncodeToString(commit2)
		b, _ := json.Marshal(withCommit)
		e.putRaw(key+envelope.DefaultInstructionSuffix, b, nil)
		for _, c := range []*encryptionclient.Client{strict, permissive} {
			if got, err := read(c, key); !errors.Is(err, encryptionclient.ErrMalformed) || got != nil {
				t.Fatalf("%s V3 with a commitment in the instruction file: %d bytes, %v", krName, len(got), err)
			}
		}
		// Nor move the whole envelope into the instruction file (an object
		// without c/d/i on it).
		full, err := env2.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		full[envelope.KeyV3Commitment] = base64.StdEncoding.EncodeToString(commit2)
		b, _ = json.Marshal(full)
		e.putRaw(key, body, nil)
		e.putRaw(key+envelope.DefaultInstructionSuffix, b, nil)
		for _, c := range []*encryptionclient.Client{strict, permissive} {
			if got, err := read(c, key); !errors.Is(err, encryptionclient.ErrMalformed) || got != nil {
				t.Fatalf("%s V3 envelope wholly in the instruction file: %d bytes, %v", krName, len(got), err)
			}
		}
	}
	t.Logf("invisible salamanders: %d reads; V2 falls to the swap under the migration policy and is refused by the default policy; V3 refuses every swap under both", cases)
}

// --- The bad-input catalogue (docs/ERRORS.md) ---

var updateErrors = flag.Bool("update-errors", false, "rewrite the catalogue table of docs/ERRORS.md from TestErrorCatalogue")

// errUntyped marks a row whose error has no class yet (a gap, reported):
// the row checks only that the call fails.
var errUntyped = errors.New("untyped")

// catalogueRow is one bad input, the error class it must give and, for the
// table, the message it gave.
type catalogueRow struct {
	input, call string
	class       string // as documented
	is          error  // errors.Is target, or nil
	as          func(error) bool
	err         error // what the call returned
}

const (
	catalogueBegin = "<!-- BEGIN CATALOGUE (generated by TestErrorCatalogue; go -C tests test ./encryptionclient -run TestErrorCatalogue -update-errors) -->"
	catalogueEnd   = "<!-- END CATALOGUE -->"
)

// TestErrorCatalogue produces every bad input of docs/ERRORS.md, checks
// that each gives its documented error class (and, for reads, no output),
// and checks that the table in the document lists exactly these rows with
// these messages. Run it with -update-errors to rewrite the table.
func TestErrorCatalogue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var rows []*catalogueRow
	add := func(input, call, class string, is error, err error) {
		rows = append(rows, &catalogueRow{input: input, call: call, class: class, is: is, err: err})
	}
	addAs := func(input, call, class string, as func(error) bool, err error) {
		rows = append(rows, &catalogueRow{input: input, call: call, class: class, as: as, err: err})
	}
	b := &e.bucket
	key := aws.String
	put := func(c *encryptionclient.Client, ctx context.Context, in *s3.PutObjectInput) error {
		_, err := c.PutObject(ctx, in)
		return err
	}
	getErr := func(c *encryptionclient.Client, ctx context.Context, in *s3.GetObjectInput) error {
		out, err := c.GetObject(ctx, in)
		if err == nil {
			out.Body.Close()
			return errors.New("no error")
		}
		if out != nil {
			t.Errorf("GetObject %s returned an output with its error", aws.ToString(in.Key))
		}
		return err
	}
	body := func(s string) *bytes.Reader { return bytes.NewReader([]byte(s)) }
	kmsC, aesC := e.client(e.krs["kms"]), e.client(e.krs["aes"])
	data := []byte("catalogue")
	for k, c := range map[string]*encryptionclient.Client{"obj/aes": aesC, "obj/kms": kmsC} {
		if err := e.put(c, ctx, k, data); err != nil {
			t.Fatal(err)
		}
	}
	ecCtx := encryptionclient.WithEncryptionContext(ctx, map[string]string{"department": "finance"})
	if err := e.put(kmsC, ecCtx, "obj/kms-ec", data); err != nil {
		t.Fatal(err)
	}

	// Keys.
	otherAES, _ := materials.NewAESKeyring(randBytes(t, 32), func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"purpose": "test"}
	})
	add("wrong AES key (same material description)", "GetObject", "ErrUnwrap", encryptionclient.ErrUnwrap,
		getErr(e.client(otherAES), ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes")}))
	otherKMS, _ := materials.NewKMSKeyring(e.kms.Client(), e.kms.CreateKey())
	add("wrong KMS key", "GetObject", "ErrUnwrap", encryptionclient.ErrUnwrap,
		getErr(e.client(otherKMS), ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/kms")}))
	add("object of a KMS keyring read with an AES keyring", "GetObject", "materials.ErrNotMine", materials.ErrNotMine,
		getErr(aesC, ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/kms")}))

	// Encryption contexts.
	add("encryption context missing on read", "GetObject", "ErrContextMismatch", encryptionclient.ErrContextMismatch,
		getErr(kmsC, ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/kms-ec")}))
	add("wrong encryption context on read", "GetObject", "ErrContextMismatch", encryptionclient.ErrContextMismatch,
		getErr(kmsC, encryptionclient.WithEncryptionContext(ctx, map[string]string{"department": "sales"}), &s3.GetObjectInput{Bucket: b, Key: key("obj/kms-ec")}))
	add("extra encryption-context entry on read", "GetObject", "ErrContextMismatch", encryptionclient.ErrContextMismatch,
		getErr(kmsC, encryptionclient.WithEncryptionContext(ctx, map[string]string{"department": "finance", "x": "y"}), &s3.GetObjectInput{Bucket: b, Key: key("obj/kms-ec")}))
	add("encryption context given for an object written without one", "GetObject", "ErrContextMismatch", encryptionclient.ErrContextMismatch,
		getErr(kmsC, ecCtx, &s3.GetObjectInput{Bucket: b, Key: key("obj/kms")}))
	add("reserved encryption-context key aws:x-amz-cek-alg", "PutObject", "materials.ErrReservedContextKey", materials.ErrReservedContextKey,
		put(kmsC, encryptionclient.WithEncryptionContext(ctx, map[string]string{"aws:x-amz-cek-alg": "115"}), &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x")}))
	add("encryption context with a local (AES) keyring", "PutObject", "materials.ErrContextNotSupported", materials.ErrContextNotSupported,
		put(aesC, ecCtx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x")}))
	nonASCII := encryptionclient.WithEncryptionContext(ctx, map[string]string{"département": "finances €"})
	err := put(kmsC, nonASCII, &s3.PutObjectInput{Bucket: b, Key: key("obj/non-ascii"), Body: body("x")})
	if err == nil {
		var got []byte
		if got, err = e.get(kmsC, nonASCII, "obj/non-ascii"); err == nil && string(got) != "x" {
			err = errors.New("non-ASCII context: other bytes")
		}
	}
	add("non-ASCII encryption context (KMS): accepted, S3's RFC 2047 encoding undone on read", "PutObject + GetObject", "none (round trip)", nil, err)
	add("non-ASCII encryption context read without it", "GetObject", "ErrContextMismatch", encryptionclient.ErrContextMismatch,
		getErr(kmsC, ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/non-ascii")}))

	// Metadata.
	add("reserved metadata name (x-amz-key-v2)", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), Metadata: map[string]string{"X-Amz-Key-V2": "forged"}}))
	add("reserved metadata name (x-amz-c)", "Upload", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		func() error {
			_, err := aesC.Upload(ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), Metadata: map[string]string{"x-amz-c": "115"}})
			return err
		}())
	add("user-metadata names that differ only in case", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), Metadata: map[string]string{"Color": "red", "color": "blue"}}))
	add("encryption-context value that is not UTF-8", "PutObject", "ErrInvalidDescription", encryptionclient.ErrInvalidDescription,
		put(kmsC, encryptionclient.WithEncryptionContext(ctx, map[string]string{"k": "\xff"}), &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x")}))
	bigMeta := map[string]string{"note": strings.Repeat("n", 3000)}
	add("user metadata over the 2 KB limit", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), Metadata: bigMeta}))
	add("envelope too large for metadata with StoreMetadata", "PutObject", "ErrMetadataTooLarge", encryptionclient.ErrMetadataTooLarge,
		put(e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreMetadata }), ctx,
			&s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), Metadata: map[string]string{"note": strings.Repeat("n", 1800)}}))
	add("precomputed checksum of the plaintext (ContentMD5)", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), ContentMD5: aws.String("1B2M2Y8AsgTpgAmY7PhCfg==")}))

	// Stored envelopes.
	stored := func(k string, meta map[string]string) error {
		e.putRaw(k, make([]byte, 32), meta)
		return getErr(e.client(e.krs["kms"], func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }), ctx, &s3.GetObjectInput{Bucket: b, Key: key(k)})
	}
	kmsObj := e.loadTamperObj("obj/kms")
	v3 := func(k, v string) map[string]string {
		m := maps.Clone(kmsObj.meta)
		m[k] = v
		return m
	}
	add("object not written by an encryption client", "GetObject", "ErrNotEncrypted", encryptionclient.ErrNotEncrypted, stored("plain", nil))
	add("unknown V3 content algorithm (x-amz-c: 116)", "GetObject", "ErrMalformed", encryptionclient.ErrMalformed, stored("alg/c", v3(envelope.KeyV3Content, "116")))
	add("unknown V3 wrap algorithm (x-amz-w: 99)", "GetObject", "ErrMalformed", encryptionclient.ErrMalformed, stored("alg/w", v3(envelope.KeyV3Wrap, "99")))
	v2 := map[string]string{envelope.KeyV2WrappedKey: "AAAA", envelope.KeyIV: "AAAAAAAAAAAAAAAA", envelope.KeyMatDesc: "{}",
		envelope.KeyWrapAlg: "kms+context", envelope.KeyCEKAlg: "AES/GCM/NoPadding", envelope.KeyTagLen: "128"}
	v2with := func(k, v string) map[string]string {
		m := maps.Clone(v2)
		m[k] = v
		return m
	}
	add("unknown content algorithm (x-amz-cek-alg: AES/XTS/NoPadding)", "GetObject", "ErrMalformed", encryptionclient.ErrMalformed, stored("alg/cek", v2with(envelope.KeyCEKAlg, "AES/XTS/NoPadding")))
	add("unknown wrap algorithm (x-amz-wrap-alg: ROT13)", "GetObject", "ErrMalformed", encryptionclient.ErrMalformed, stored("alg/wrap", v2with(envelope.KeyWrapAlg, "ROT13")))
	add("tag length other than 128 (x-amz-tag-len: 96)", "GetObject", "ErrMalformed", encryptionclient.ErrMalformed, stored("alg/tag", v2with(envelope.KeyTagLen, "96")))
	add("two wrapped keys (x-amz-key-v2 and x-amz-3)", "GetObject", "ErrMalformed", encryptionclient.ErrMalformed, stored("alg/two", v2with(envelope.KeyV3WrappedKey, "AAAA")))
	add("V2 object under the default policy", "GetObject", "ErrPolicy", encryptionclient.ErrPolicy,
		func() error {
			if err := e.put(e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt }), ctx, "obj/v2", data); err != nil {
				return err
			}
			return getErr(aesC, ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/v2")})
		}())
	add("legacy CBC object without EnableLegacyUnauthenticatedModes", "GetObject", "ErrPolicy", encryptionclient.ErrPolicy,
		func() error {
			m := v2with(envelope.KeyCEKAlg, "AES/CBC/PKCS5Padding")
			m[envelope.KeyIV] = base64.StdEncoding.EncodeToString(make([]byte, 16))
			delete(m, envelope.KeyTagLen)
			return stored("alg/cbc", m)
		}())
	add("object larger than BufferSize (buffered mode)", "GetObject", "ErrTooLarge", encryptionclient.ErrTooLarge,
		getErr(e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.BufferSize = 4 }), ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes")}))
	add("spool directory missing (SpoolLargeObjects, object larger than BufferSize)", "GetObject", "ErrSpool", encryptionclient.ErrSpool,
		getErr(e.client(e.krs["aes"], func(o *encryptionclient.Options) {
			o.BufferSize, o.SpoolLargeObjects, o.SpoolDir = 4, true, "/nonexistent-s3ec-spool-dir"
		}), ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes")}))

	// Options.
	newErr := func(fn func(*encryptionclient.Options)) error {
		_, err := encryptionclient.New(e.plain, e.krs["aes"], fn)
		return err
	}
	add("unknown commitment policy", "New", "ErrPolicy", encryptionclient.ErrPolicy, newErr(func(o *encryptionclient.Options) { o.CommitmentPolicy = 9 }))
	add("legacy modes with REQUIRE_ENCRYPT_REQUIRE_DECRYPT", "New", "ErrPolicy", encryptionclient.ErrPolicy, newErr(func(o *encryptionclient.Options) { o.EnableLegacyUnauthenticatedModes = true }))
	add("negative BufferSize", "New", "ErrInvalidInput", encryptionclient.ErrInvalidInput, newErr(func(o *encryptionclient.Options) { o.BufferSize = -1 }))
	add("BufferSize with EnableDelayedAuthentication", "New", "ErrInvalidInput", encryptionclient.ErrInvalidInput, newErr(func(o *encryptionclient.Options) {
		o.BufferSize, o.EnableDelayedAuthentication = 1<<20, true
	}))
	add("SpoolLargeObjects with EnableDelayedAuthentication", "New", "ErrInvalidInput", encryptionclient.ErrInvalidInput, newErr(func(o *encryptionclient.Options) {
		o.SpoolLargeObjects, o.EnableDelayedAuthentication = true, true
	}))
	add("SpoolDir without SpoolLargeObjects", "New", "ErrInvalidInput", encryptionclient.ErrInvalidInput, newErr(func(o *encryptionclient.Options) { o.SpoolDir = "/tmp" }))
	add("negative MetadataLimit", "New", "ErrInvalidInput", encryptionclient.ErrInvalidInput, newErr(func(o *encryptionclient.Options) { o.MetadataLimit = -1 }))
	add("unknown EnvelopeStorage", "New", "ErrInvalidInput", encryptionclient.ErrInvalidInput, newErr(func(o *encryptionclient.Options) { o.EnvelopeStorage = 7 }))
	_, err = encryptionclient.New(nil, e.krs["aes"])
	add("nil S3 client", "New", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	_, err = encryptionclient.New(e.plain, nil)
	add("nil keyring", "New", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	_, err = aesC.Upload(ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x")}, func(o *encryptionclient.UploadOptions) { o.PartSize = 1 << 20 })
	add("Upload part size under 5 MiB", "Upload", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	_, err = aesC.Upload(ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x")}, func(o *encryptionclient.UploadOptions) { o.Concurrency = -1 })
	add("negative Upload concurrency", "Upload", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	_, err = aesC.Download(ctx, &tamperBufferAt{}, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes")}, func(o *encryptionclient.DownloadOptions) { o.PartSize = 17 })
	add("Download part size not a multiple of 16", "Download", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)

	// Requests and bodies.
	_, err = aesC.PutObject(ctx, nil)
	add("nil PutObjectInput", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	_, err = aesC.GetObject(ctx, nil)
	add("nil GetObjectInput", "GetObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	add("missing key", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput, put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Body: body("x")}))
	add("nil body with ContentLength 5", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), ContentLength: aws.Int64(5)}))
	add("nil body, no length: an empty object", "PutObject", "none (accepted)", nil,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("obj/empty")}))
	add("negative ContentLength", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), ContentLength: aws.Int64(-2)}))
	add("non-seekable body without ContentLength", "PutObject", "ErrUnknownLength", encryptionclient.ErrUnknownLength,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: io.MultiReader(body("x"))}))
	add("body shorter than ContentLength", "PutObject", "ErrBodyLength", encryptionclient.ErrBodyLength,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: io.MultiReader(body("xyz")), ContentLength: aws.Int64(10)}))
	_, err = aesC.Download(ctx, nil, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes")})
	add("nil io.WriterAt", "Download", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	_, err = aesC.DownloadFile(ctx, "", &s3.GetObjectInput{Bucket: b, Key: key("obj/aes")})
	add("empty path", "DownloadFile", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	add("PartNumber read", "GetObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		getErr(aesC, ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes"), PartNumber: aws.Int32(1)}))
	add("SSE-C key over plain HTTP", "PutObject", "ErrInvalidInput", encryptionclient.ErrInvalidInput,
		put(aesC, ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 32)))}))
	_, err = aesC.Upload(ctx, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x"), WriteOffsetBytes: aws.Int64(1)})
	add("append (WriteOffsetBytes)", "Upload", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)

	// Ranges.
	ranged := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	add("Range without EnableUnauthenticatedRanges", "GetObject", "ErrPolicy", encryptionclient.ErrPolicy,
		getErr(aesC, ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes"), Range: aws.String("bytes=0-3")}))
	isRange := func(err error) bool {
		var re *envelope.RangeError
		return errors.As(err, &re)
	}
	for _, r := range []string{"bytes=5-2", "bytes=100-", "bytes=0-1,4-5", "items=0-3", "bytes=-0"} {
		addAs(fmt.Sprintf("invalid or unsatisfiable range %q (9-byte object)", r), "GetObject", "*envelope.RangeError (errors.As)", isRange,
			getErr(ranged, ctx, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes"), Range: aws.String(r)}))
	}

	// Multipart and rotation.
	_, err = aesC.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: key("x"), UploadId: aws.String("unknown"), PartNumber: aws.Int32(1), Body: body("x")})
	add("UploadPart of an upload the client did not create", "UploadPart", "ErrUnknownUpload", encryptionclient.ErrUnknownUpload, err)
	_, err = aesC.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: key("x")})
	add("CreateMultipartUpload without WithPartSize", "CreateMultipartUpload", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	_, err = aesC.Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: b, Key: key("obj/aes"), Keyring: e.krs["aes"]})
	add("Rewrap to the key that already wraps the data key", "Rewrap", "ErrSameWrappingKey", encryptionclient.ErrSameWrappingKey, err)
	_, err = aesC.Rewrap(ctx, nil)
	add("nil RewrapInput", "Rewrap", "ErrInvalidInput", encryptionclient.ErrInvalidInput, err)
	rows = append(rows, reEncryptCatalogue(t, e)...) // reencrypt_test.go

	// Cancelled contexts.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	add("cancelled context", "PutObject", "context.Canceled", context.Canceled, put(aesC, cancelled, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x")}))
	add("cancelled context", "GetObject", "context.Canceled", context.Canceled, getErr(aesC, cancelled, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes")}))
	_, err = aesC.Upload(cancelled, &s3.PutObjectInput{Bucket: b, Key: key("x"), Body: body("x")})
	add("cancelled context", "Upload", "context.Canceled", context.Canceled, err)
	_, err = aesC.Download(cancelled, &tamperBufferAt{}, &s3.GetObjectInput{Bucket: b, Key: key("obj/aes")})
	add("cancelled context", "Download", "context.Canceled", context.Canceled, err)
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	add("expired deadline", "GetObject", "context.DeadlineExceeded", context.DeadlineExceeded, getErr(kmsC, expired, &s3.GetObjectInput{Bucket: b, Key: key("obj/kms")}))

	// Check every row, then the document.
	untyped := 0
	for _, r := range rows {
		switch {
		case r.is == nil && r.as == nil:
			if r.err != nil {
				t.Errorf("%s (%s): %v, want success", r.input, r.call, r.err)
			}
		case r.err == nil:
			t.Errorf("%s (%s): no error, want %s", r.input, r.call, r.class)
		case r.is == errUntyped:
			untyped++
			if tamperClassOf(r.err) != "" || errors.Is(r.err, encryptionclient.ErrInvalidInput) {
				t.Errorf("%s (%s) is typed now (%v): update its row", r.input, r.call, r.err)
			}
		case r.is != nil && !errors.Is(r.err, r.is), r.as != nil && !r.as(r.err):
			t.Errorf("%s (%s): %v, want class %s", r.input, r.call, r.err, r.class)
		}
	}
	table := renderCatalogue(rows, e)
	path := filepath.Join("..", "..", "docs", "ERRORS.md")
	doc, err := os.ReadFile(path)
	if err != nil && !*updateErrors {
		t.Fatalf("%v (run with -update-errors to create it)", err)
	}
	text := string(doc)
	i, j := strings.Index(text, catalogueBegin), strings.Index(text, catalogueEnd)
	if *updateErrors {
		if i < 0 || j < i {
			text = "# Errors\n\n" + catalogueBegin + "\n" + catalogueEnd + "\n"
			i, j = strings.Index(text, catalogueBegin), strings.Index(text, catalogueEnd)
		}
		text = text[:i+len(catalogueBegin)] + "\n" + table + text[j:]
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s: %d rows (%d untyped)", path, len(rows), untyped)
		return
	}
	if i < 0 || j < i {
		t.Fatalf("%s has no catalogue markers", path)
	}
	if e.srv.Real {
		t.Logf("%d rows checked against %s; the table is compared with the in-process server only", len(rows), e.srv.Name)
		return
	}
	if got := text[i+len(catalogueBegin)+1 : j]; got != table {
		t.Errorf("docs/ERRORS.md is out of date: run go -C tests test ./encryptionclient -run TestErrorCatalogue -update-errors\n--- want ---\n%s", table)
	}
	t.Logf("%d bad inputs, %d with a typed error, %d with a plain one (gaps)", len(rows), len(rows)-untyped, untyped)
}

var catalogueNoise = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`RequestID: [^,]*`), "RequestID: …"},
	{regexp.MustCompile(`HostID: [^,]*`), "HostID: …"},
	{regexp.MustCompile(`arn:aws:kms:[^"\s/]*:key/[0-9a-f-]+`), "KEY-ARN"},
	{regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`), "http://SERVER"},
}

func renderCatalogue(rows []*catalogueRow, e *env) string {
	var sb strings.Builder
	sb.WriteString("| # | Bad input | Call | Error class | Message |\n|---|---|---|---|---|\n")
	for n, r := range rows {
		msg := "(no error)"
		if r.err != nil {
			msg = strings.ReplaceAll(r.err.Error(), e.bucket, "BUCKET")
			for _, x := range catalogueNoise {
				msg = x.re.ReplaceAllString(msg, x.with)
			}
		}
		cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
		fmt.Fprintf(&sb, "| %d | %s | %s | %s | `%s` |\n", n+1, cell(r.input), r.call, cell(r.class), cell(msg))
	}
	return sb.String()
}
