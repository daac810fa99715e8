package encryptionclient_test

// Attack tests of issue 12 (ReEncrypt, Adopt, VerifyObject,
// IsInstructionFile): the bucket writer with a KMS key of their own, the
// S3 server that lies, and the KMS that names other keys. Each test fails
// while the library is vulnerable.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// unchanged asserts that key's stored bytes and metadata are still body
// and meta.
func (e *env) unchanged(key string, body []byte, meta map[string]string) {
	e.t.Helper()
	got, gotMeta, err := e.raw(key)
	if err != nil {
		e.t.Fatalf("%s: %v", key, err)
	}
	if !bytes.Equal(got, body) {
		e.t.Fatalf("%s was rewritten (%d bytes, was %d)", key, len(got), len(body))
	}
	if len(gotMeta) != len(meta) {
		e.t.Fatalf("%s: metadata changed: %v, was %v", key, gotMeta, meta)
	}
	for k, v := range meta {
		if gotMeta[k] != v {
			e.t.Fatalf("%s: metadata %s changed", key, k)
		}
	}
}

// The bucket writer plants a V3 object under their own KMS key (usable by
// anyone). No strict current keyring of the victim may ReEncrypt it under
// the victim's key B (nor with Force, nor in a dry run asking a data key):
// it must fail and stay as planted, never read as authentic under B.
func TestAttackReEncryptRefusesAttackerKMSKey(t *testing.T) {
	w := newAuthzWorld(t)
	e := w.e
	for name, current := range map[string]materials.Keyring{
		"kms key A":               w.kmsA,
		"discovery allow A":       w.discA,
		"discovery allow A and C": w.discAC,
		"multi kms A + aes":       materials.NewMulti(w.kmsA, w.aesOld),
		"caching kms A":           mustCaching(t, w.kmsA),
	} {
		for _, mode := range []string{"target B", "client keyring", "force", "dryrun"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				key := "planted-" + sanitize(name) + "-" + sanitize(mode)
				w.plant(t, key)
				body, before, _ := e.raw(key)
				h := newRW(e)
				in := &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(key), Keyring: w.kmsB}
				switch mode {
				case "client keyring":
					in.Keyring = nil
				case "force":
					in.Force = true
				case "dryrun":
					in.DryRun = true
				}
				_, err := e.rwClient(h, current).ReEncrypt(context.Background(), in)
				if err == nil {
					t.Fatal("ReEncrypt of the attacker's object succeeded")
				}
				if n := h.nWrites(); n != 0 {
					t.Fatalf("%d write requests for a refused object", n)
				}
				e.unchanged(key, body, before)
				w.notLaundered(t, key, before)
			})
		}
	}
}

// KMS names another key than the one asked (a misconfigured endpoint): for
// the unwrap of the source (Decrypt) or for the new data key
// (GenerateDataKey) of ReEncrypt and Adopt. Nothing may be written with a
// key that KMS did not prove to be the one configured.
func TestAttackReEncryptAndAdoptKMSReportsAnotherKey(t *testing.T) {
	w := newAuthzWorld(t)
	e := w.e
	ctx := context.Background()
	for _, op := range []string{"Decrypt", "GenerateDataKey"} {
		t.Run("reencrypt/"+op, func(t *testing.T) {
			key := "lie-re-" + op
			if err := e.put(e.client(w.kmsA), ctx, key, []byte("victim data")); err != nil {
				t.Fatal(err)
			}
			body, meta, _ := e.raw(key)
			e.kms.SetLie(op, kmstest.Lie{KeyID: w.keyX})
			defer e.kms.SetLie(op, kmstest.Lie{})
			h := newRW(e)
			_, err := e.rwClient(h, w.kmsA).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(key), Keyring: w.kmsB, Force: true})
			if err == nil {
				t.Fatalf("ReEncrypt succeeded while KMS reported key X for %s", op)
			}
			if n := h.nWrites(); n != 0 {
				t.Fatalf("%d writes", n)
			}
			e.unchanged(key, body, meta)
		})
	}
	t.Run("adopt/GenerateDataKey", func(t *testing.T) {
		key := "lie-adopt"
		e.putRaw(key, []byte("plain"), nil)
		e.kms.SetLie("GenerateDataKey", kmstest.Lie{KeyID: w.keyX})
		defer e.kms.SetLie("GenerateDataKey", kmstest.Lie{})
		h := newRW(e)
		_, err := e.rwClient(h, w.kmsA).Adopt(ctx, &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String(key), Keyring: w.kmsB})
		if err == nil {
			t.Fatal("Adopt succeeded while KMS reported key X for the new data key")
		}
		if n := h.nWrites(); n != 0 {
			t.Fatalf("%d writes", n)
		}
		e.unchanged(key, []byte("plain"), nil)
	})
}

// v2InstructionFile writes a V2 object whose whole envelope is in its
// instruction file (as AWS SDK Go v1's s3crypto and other clients store
// it) and returns the instruction file's body.
func (e *env) v2InstructionFile(kr materials.Keyring, key string, pt []byte) []byte {
	e.t.Helper()
	c := e.client(kr, writeV2, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	if err := e.put(c, context.Background(), key, pt); err != nil {
		e.t.Fatal(err)
	}
	b, _, err := e.raw(key + ".instruction")
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// An instruction file planted next to a plaintext object (copied from an
// object of the attacker's): Adopt must not encrypt the object (a reader
// would pair the planted file with it), ReEncrypt must not pair the planted
// file with the plaintext and write anything, and neither may touch the
// object.
func TestAttackPlantedInstructionFileNextToPlaintext(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	donor := e.v2InstructionFile(kr, "attacker-donor", []byte("attacker's own data"))
	plain := []byte("the victim's unencrypted report")
	for _, withMark := range []bool{true, false} {
		key := "victim-plain-" + map[bool]string{true: "marked", false: "unmarked"}[withMark]
		e.putRaw(key, plain, nil)
		var meta map[string]string
		if withMark {
			meta = map[string]string{"x-amz-crypto-instr-file": ""}
		}
		e.putRaw(key+".instruction", donor, meta)

		h := newRW(e)
		_, err := e.rwClient(h, kr).Adopt(ctx, &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String(key)})
		mustErrorIs(t, err, encryptionclient.ErrAlreadyEncrypted)
		_, err = e.rwClient(h, kr, allowV2).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(key)})
		if err == nil {
			t.Fatal("ReEncrypt of a plaintext object with a planted instruction file succeeded")
		}
		if n := h.nWrites(); n != 0 {
			t.Fatalf("%d writes", n)
		}
		e.unchanged(key, plain, nil)
	}
}

// The instruction file of an existing V2 object, written without the
// x-amz-crypto-instr-file mark (AWS SDK Go v1's s3crypto writes instruction
// files with a bare PutObject, no metadata), is listed by a prefix or
// inventory beside its object. An Adopt job must not encrypt it in place:
// that would make the V2 object unreadable for every client.
func TestAttackAdoptJobEncryptsUnmarkedInstructionFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	pt := []byte("a V2 object written by another client")
	instr := e.v2InstructionFile(kr, "legacy/obj", pt)
	e.putRaw("legacy/obj.instruction", instr, nil) // as s3ec v1's S3SaveStrategy stores it: no metadata
	reader := e.client(kr, allowV2)
	if got, err := e.get(reader, ctx, "legacy/obj"); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("setup: the V2 object does not read: %v", err)
	}

	c := e.client(kr)
	sum, err := bulk.Run(ctx, bulk.List(e.plain, e.bucket, "legacy/"), bulk.Adopt(c, bulk.AdoptParams{}), bulk.RunOptions{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.get(reader, ctx, "legacy/obj")
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("after an Adopt job (%v) the V2 object no longer reads: %v", sum, err)
	}
	if b, _, _ := e.raw("legacy/obj.instruction"); !bytes.Equal(b, instr) {
		t.Fatalf("the Adopt job rewrote the instruction file of legacy/obj (%v)", sum)
	}
}

// Plaintext objects whose user metadata carries one name of an envelope
// (any spelling S3 keeps). Adopt either refuses (nothing written) or writes
// an object that reads back exactly, whose stored envelope has one meaning.
func TestAttackAdoptEnvelopeLookalikeMetadata(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	plain := []byte("0123456789abcdef plaintext")
	for _, name := range []string{
		"x-amz-key", "x-amz-key-v2", "x-amz-iv", "x-amz-matdesc", "x-amz-cek-alg", "x-amz-tag-len",
		"x-amz-unencrypted-content-length", "x-amz-unencrypted-content-md5", "x-amz-wrap-alg",
		"x-amz-3", "x-amz-c", "x-amz-w", "x-amz-t", "x-amz-d", "x-amz-i", "x-amz-m", "x-amz-crypto-instr-file", "s3ec-instruction-id",
	} {
		for _, val := range []string{"", "5", "{}", "AES/GCM/NoPadding"} {
			key := "lookalike/" + name + "/v" + sanitize(val) // never ending in "/" (a directory on posix-backed servers)
			e.putRaw(key, plain, map[string]string{name: val})
			h := newRW(e)
			_, err := e.rwClient(h, kr).Adopt(ctx, &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String(key)})
			if err != nil {
				if h.nWrites() != 0 {
					t.Fatalf("%s=%q: Adopt failed (%v) after %d writes", name, val, err, h.nWrites())
				}
				e.unchanged(key, plain, map[string]string{name: val})
				continue
			}
			got, err := e.get(e.client(kr), ctx, key)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s=%q: adopted object reads %q, %v", name, val, got, err)
			}
			out := e.storedFormat(key)
			if out.InstructionFileKey != "" {
				t.Fatalf("%s=%q: adopted object's envelope is read from %s", name, val, out.InstructionFileKey)
			}
		}
	}
}

// lyingGet is an S3 API whose GetObject answers lie about the object HEAD
// described.
type lyingGet struct {
	*rwS3
	lie func(in *s3.GetObjectInput, out *s3.GetObjectOutput)
}

func (l *lyingGet) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := l.rwS3.GetObject(ctx, in, optFns...)
	if err == nil && l.lie != nil && !strings.HasSuffix(aws.ToString(in.Key), ".instruction") {
		l.lie(in, out)
	}
	return out, err
}

// The server's GET disagrees with its HEAD, or with the object: another
// object's ciphertext of the same length, another ETag, a short body.
// Adopt and VerifyObject (HeadObject, then a pinned GET) fail, write
// nothing, leave no multipart upload, and the object stays. ReEncrypt
// reads the object with the one GET, so its ETag cannot disagree with
// another answer: another ciphertext and a short body fail as above, and
// with another ETag every write is conditional on the ETag that GET
// reported (an honest store refuses it; the in-process one ignores
// If-Match on CompleteMultipartUpload, so the object, re-encrypted from
// the authenticated body, is stored back afterwards).
func TestAttackGetDisagreesWithHead(t *testing.T) {
	e := newEnv(t)
	ctx := e.smallParts(context.Background())
	kr := e.krs["aes"]
	partSize, threshold, size := e.mpSizes()
	for _, n := range []int{100, size} {
		a, b := randBytes(t, n), randBytes(t, n)
		if err := e.put(e.client(kr), ctx, "a", a); err != nil {
			t.Fatal(err)
		}
		if err := e.put(e.client(kr), ctx, "b", b); err != nil {
			t.Fatal(err)
		}
		bodyA, metaA, _ := e.raw("a")
		bodyB, _, _ := e.raw("b")
		e.putRaw("plain", a, nil)
		lies := map[string]func(*s3.GetObjectInput, *s3.GetObjectOutput){
			"other ciphertext": func(_ *s3.GetObjectInput, out *s3.GetObjectOutput) {
				out.Body.Close()
				out.Body = io.NopCloser(bytes.NewReader(bodyB))
			},
			"other etag": func(_ *s3.GetObjectInput, out *s3.GetObjectOutput) { out.ETag = aws.String(`"0000"`) },
			"short body": func(_ *s3.GetObjectInput, out *s3.GetObjectOutput) {
				out.Body = &shortBody{r: io.LimitReader(out.Body, int64(n/2)), c: out.Body} // closes the real body
			},
		}
		for name, lie := range lies {
			t.Run(name+"/"+string(rune('0'+n%10)), func(t *testing.T) {
				h := &lyingGet{rwS3: newRW(e), lie: lie}
				c, err := encryptionclient.New(h, kr)
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("a"), Force: true, PartSize: partSize, MultipartThreshold: threshold})
				if name == "other etag" {
					h.mu.Lock()
					var conds []*string
					for _, p := range h.puts {
						conds = append(conds, p.IfMatch)
					}
					for _, c := range h.completes {
						conds = append(conds, c.IfMatch)
					}
					h.puts, h.completes = nil, nil
					h.mu.Unlock()
					if len(conds) != 1 || aws.ToString(conds[0]) != `"0000"` {
						t.Fatalf("ReEncrypt's writes were conditional on %v, want the ETag its GET reported", conds)
					}
					if err != nil && !errors.Is(err, encryptionclient.ErrObjectChanged) {
						t.Fatalf("ReEncrypt whose write is refused: %v", err)
					}
					e.putRaw("a", bodyA, metaA)
				} else if err == nil {
					t.Fatal("ReEncrypt succeeded over a lying GET")
				}
				if name != "other ciphertext" {
					_, err = c.Adopt(ctx, &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String("plain"), PartSize: partSize, MultipartThreshold: threshold})
					if err == nil {
						t.Fatal("Adopt succeeded over a lying GET")
					}
				}
				if _, err := c.VerifyObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("a")}); err == nil {
					t.Fatal("VerifyObject passed a lying GET")
				}
				h.mu.Lock()
				completes, puts := len(h.completes), len(h.puts)
				h.mu.Unlock()
				if completes != 0 || puts != 0 {
					t.Fatalf("%d PutObject, %d CompleteMultipartUpload over a lying GET", puts, completes)
				}
				if left := e.leftUploads(); left != 0 {
					t.Fatalf("%d multipart uploads left", left)
				}
				e.unchanged("a", bodyA, metaA)
				e.unchanged("plain", a, nil)
			})
		}
	}
}

// ignoreIfMatch is a server that accepts conditional writes but ignores
// their condition (If-Match on PutObject and CompleteMultipartUpload), as
// S3-compatible stores without conditional-write support do; a concurrent
// writer replaces the object just before the rewrite's write. With strip
// false it passes the condition on (a store that honours it).
type ignoreIfMatch struct {
	*rwS3
	writer func()
	once   bool
	strip  bool
	sent   []*string // the If-Match of each PutObject of the object
}

func (s *ignoreIfMatch) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if !strings.HasSuffix(aws.ToString(in.Key), ".instruction") {
		s.sent = append(s.sent, in.IfMatch)
		if !s.once {
			s.once = true
			s.writer()
		}
	}
	req := *in
	if s.strip {
		req.IfMatch = nil
	}
	return s.rwS3.PutObject(ctx, &req, optFns...)
}

// The no-lost-update guarantee of ReEncrypt rests on the server's
// conditional writes, as documented (ReEncrypt's doc, THREAT-MODEL): the
// write carries If-Match with the ETag read, and a store that honours it
// (the in-process server here, AWS S3, MinIO, versitygw) refuses it after
// a concurrent write: ErrObjectChanged, the writer's object stays. A store
// that accepts and ignores If-Match loses the writer's object, and the
// client cannot tell afterwards: that documented limitation is asserted
// too, so that a change of it is seen.
func TestAttackServerIgnoringIfMatchLosesWriter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	newer := []byte("version 2, written by a colleague")
	for _, strip := range []bool{false, true} {
		if err := e.put(e.client(kr), ctx, "doc", []byte("version 1")); err != nil {
			t.Fatal(err)
		}
		read, err := e.plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("doc")})
		if err != nil {
			t.Fatal(err)
		}
		s := &ignoreIfMatch{rwS3: newRW(e), strip: strip, writer: func() {
			if err := e.put(e.client(kr), ctx, "doc", newer); err != nil {
				t.Error(err)
			}
		}}
		c, err := encryptionclient.New(s, kr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("doc"), Force: true})
		if len(s.sent) != 1 || aws.ToString(s.sent[0]) != aws.ToString(read.ETag) {
			t.Fatalf("strip %v: the rewrite's PutObject did not carry If-Match %s", strip, aws.ToString(read.ETag))
		}
		got, gerr := e.get(e.client(kr), ctx, "doc")
		if gerr != nil {
			t.Fatal(gerr)
		}
		if !strip {
			mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
			if !bytes.Equal(got, newer) {
				t.Fatalf("a store honouring If-Match: the concurrent writer's object was overwritten with %q", got)
			}
			continue
		}
		// The documented limitation: a store that ignores If-Match.
		if err != nil || !bytes.Equal(got, []byte("version 1")) {
			t.Fatalf("a store ignoring If-Match: ReEncrypt %v, object %q; the documentation (ReEncrypt, THREAT-MODEL) says the writer's object is lost undetected: update it", err, got)
		}
	}
}

// Keys that end with the instruction-file suffix: an ordinary object so
// named (no object of the base name) is adopted, never skipped as an
// instruction file; a real (marked) instruction file is skipped, and Adopt
// refuses a marked file directly.
func TestAttackInstructionSuffixNamesakes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	c := e.client(kr)
	e.putRaw("n/memo.instruction", []byte("my instructions, not an envelope"), nil)
	e.v2InstructionFile(kr, "n/v2", []byte("v2 content"))
	instr, instrMeta, _ := e.raw("n/v2.instruction")

	sum, err := bulk.Run(ctx, bulk.List(e.plain, e.bucket, "n/"), bulk.Adopt(c, bulk.AdoptParams{}), bulk.RunOptions{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(c, ctx, "n/memo.instruction"); err != nil || string(got) != "my instructions, not an envelope" {
		t.Fatalf("n/memo.instruction was not adopted (%v): %v", sum, err)
	}
	if out := e.storedFormat("n/memo.instruction"); out.Envelope == nil {
		t.Fatal("n/memo.instruction carries no envelope")
	}
	e.unchanged("n/v2.instruction", instr, instrMeta)
	if sum.Reasons["instruction-file"] != 1 || sum.Reasons["already-encrypted"] != 1 || sum.Reasons["adopted"] != 1 {
		t.Fatalf("summary %v", sum)
	}
	_, err = c.Adopt(ctx, &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String("n/v2.instruction")})
	mustErrorIs(t, err, encryptionclient.ErrAlreadyEncrypted)
	if ok, err := c.IsInstructionFile(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("n/memo.instruction")}); ok || err != nil {
		t.Fatalf("IsInstructionFile(n/memo.instruction) = %v, %v", ok, err)
	}
}

// A plaintext object "notes" beside an ordinary file "notes.instruction"
// that is no envelope at all (not JSON): an Adopt job must not report
// "notes" as Succeeded/already-encrypted while it stays plaintext (the
// report would tell the security team that it is encrypted). Adopting it
// is safe (the new envelope is in its metadata); a failure is honest too.
func TestAttackAdoptSkipsPlaintextBesideNamesakeFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	c := e.client(kr)
	e.putRaw("n/notes", []byte("notes"), nil)
	e.putRaw("n/notes.instruction", []byte("my instructions, not an envelope"), nil)
	r := bulk.Adopt(c, bulk.AdoptParams{}).Do(ctx, bulk.Task{Bucket: e.bucket, Key: "n/notes"})
	body, meta, _ := e.raw("n/notes")
	if r.Status == bulk.Succeeded && string(body) == "notes" && len(meta) == 0 {
		t.Fatalf("plaintext n/notes reported %s/%s (%q) and left unencrypted", r.Status, r.Reason, r.Message)
	}
}

// A tampered object in a ReEncrypt job is a permanent failure whose
// message holds no plaintext and no key bytes, and nothing is written.
func TestAttackReEncryptResultCarriesNoSecrets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	secret := []byte("TOP-SECRET-PLAINTEXT-MARKER-0123456789")
	if err := e.put(e.client(kr, writeV2), ctx, "s/x", secret); err != nil {
		t.Fatal(err)
	}
	e.tamper("s/x", 3)
	h := newRW(e)
	c := e.rwClient(h, kr, allowV2)
	r := bulk.ReEncrypt(c, bulk.ReEncryptParams{}).Do(ctx, bulk.Task{Bucket: e.bucket, Key: "s/x"})
	if r.Status != bulk.PermanentFailure || r.ErrorCode != "AuthenticationFailed" {
		t.Fatalf("result %+v", r)
	}
	if strings.Contains(r.Message, "TOP-SECRET") || bytes.Contains([]byte(r.Message), secret[:8]) {
		t.Fatalf("message leaks plaintext: %q", r.Message)
	}
	if h.nWrites() != 0 {
		t.Fatalf("%d writes", h.nWrites())
	}
	if errors.Is(r.Err, encryptionclient.ErrAlreadyCurrent) {
		t.Fatal("tampered object counted as current")
	}
}

// ReEncrypt by a client that stores envelopes in instruction files, of an
// object whose envelope is in its metadata, beside an unrelated object
// named key+".instruction" (a user's file; the reader of the source never
// used it): the rewrite must not overwrite that object, which it never
// read or verified.
func TestAttackReEncryptIntoInstructionFileClobbersNamesake(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	if err := e.put(e.client(kr), ctx, "c/report", []byte("report")); err != nil {
		t.Fatal(err)
	}
	user := []byte("the user's own file named like an instruction file")
	e.putRaw("c/report.instruction", user, map[string]string{"owner": "alice"})
	c := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	if ok, err := c.IsInstructionFile(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("c/report.instruction")}); ok || err != nil {
		t.Fatalf("setup: IsInstructionFile = %v, %v", ok, err)
	}
	_, err := c.ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("c/report"), Force: true})
	got, meta, rerr := e.raw("c/report.instruction")
	if rerr != nil || !bytes.Equal(got, user) || meta["owner"] != "alice" {
		t.Fatalf("ReEncrypt (error %v) overwrote the unrelated object c/report.instruction: now %q %v", err, got, meta)
	}
}

// The bucket writer flips bits in a legacy CBC object (no tag: the block
// after the flipped one changes as chosen, the padding stays valid). A
// ReEncrypt job turns it into a V3 object that authenticates, with the
// attacker's content, and reports a plain "reencrypted": the laundering
// must at least be visible (an error, or a result that says the source
// was unauthenticated), as Verify says "unauthenticated".
func TestAttackReEncryptLaundersTamperedCBC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pt, ct, kr := cbcObject(t, e, "cbc/doc")
	_, meta, _ := e.raw("cbc/doc")
	forged := bytes.Clone(ct)
	forged[16] ^= 0x01 // garbles block 1, flips one bit of block 2
	e.putRaw("cbc/doc", forged, meta)

	c := e.client(kr, legacyOpts)
	r := bulk.ReEncrypt(c, bulk.ReEncryptParams{Keyring: e.krs["aes"]}).Do(ctx, bulk.Task{Bucket: e.bucket, Key: "cbc/doc"})
	if r.Outcome == bulk.Done {
		got, err := e.get(e.client(e.krs["aes"]), ctx, "cbc/doc") // a V3-only reader
		if err != nil {
			t.Fatalf("re-encrypted object does not read: %v", err)
		}
		if bytes.Equal(got, pt) {
			t.Fatal("setup: the tampering changed nothing")
		}
		if r.Reason == "reencrypted" && !strings.Contains(r.Message, "unauthenticated") {
			t.Fatalf("a tampered CBC object became an authenticated V3 object (%d bytes differ from the original) and the job reported %q", diffBytes(got, pt), r.Message)
		}
		return
	}
	t.Logf("bulk job refused: %s %s %q", r.Status, r.ErrorCode, r.Message)

	// The library itself: without the opt-in a CBC source is refused with
	// a typed error, and nothing is written.
	e.putRaw("cbc/doc", forged, meta)
	h := newRW(e)
	in := &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("cbc/doc"), Keyring: e.krs["aes"]}
	_, err := e.rwClient(h, kr, legacyOpts).ReEncrypt(ctx, in)
	mustErrorIs(t, err, encryptionclient.ErrUnauthenticatedSource)
	var oe *encryptionclient.ObjectError
	if !errors.As(err, &oe) || oe.Op != "ReEncrypt" {
		t.Fatalf("error %v is not a ReEncrypt *ObjectError", err)
	}
	if n := h.nWrites(); n != 0 {
		t.Fatalf("%d writes for a refused CBC source", n)
	}
	e.unchanged("cbc/doc", forged, meta)
	// A dry run is refused the same way.
	in.DryRun = true
	_, err = e.rwClient(h, kr, legacyOpts).ReEncrypt(ctx, in)
	mustErrorIs(t, err, encryptionclient.ErrUnauthenticatedSource)

	// With the opt-in the object is re-encrypted, and the output says that
	// its source was not authenticated.
	in.DryRun, in.AllowUnauthenticatedSource = false, true
	out, err := e.rwClient(h, kr, legacyOpts).ReEncrypt(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.SourceAuthenticated {
		t.Fatalf("a CBC source reported authenticated: %+v", out)
	}
	if got, err := e.get(e.client(e.krs["aes"]), ctx, "cbc/doc"); err != nil || bytes.Equal(got, pt) {
		t.Fatalf("opt-in re-encryption: %v (the tampering must carry over, undetectably)", err)
	}

	// A GCM source is authenticated, and needs no opt-in.
	if err := e.put(e.client(e.krs["aes"], writeV2), ctx, "gcm/doc", []byte("gcm content")); err != nil {
		t.Fatal(err)
	}
	out, err = e.client(e.krs["aes"], allowV2).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("gcm/doc")})
	if err != nil || !out.SourceAuthenticated {
		t.Fatalf("GCM source: %+v, %v", out, err)
	}
}

func diffBytes(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}
