package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// These tests play a bucket writer who owns a KMS key whose key policy lets
// anyone use it, and a KMS whose answers name other keys than the ones it
// used. Invariant: nothing is re-wrapped unless the client's (current)
// keyring would authorize reading it.

const attackerAccount = "444455556666"

// authzWorld is a victim key A, a rotation target B, an attacker key X (in
// another account, usable by anyone) and keyrings over them.
type authzWorld struct {
	e                 *env
	keyA, keyB, keyX  string
	kmsA, kmsB, kmsX  *materials.KMSKeyring
	discA, discAC     *materials.KMSDiscoveryKeyring
	aesOld            *materials.AESKeyring
	keyC              string
	attackerPlaintext []byte
}

func newAuthzWorld(t *testing.T) *authzWorld {
	t.Helper()
	e := newEnv(t)
	if e.realKMS {
		t.Skip("needs keys of the KMS test server")
	}
	w := &authzWorld{e: e, keyA: e.keyARN, keyB: e.kms.CreateKey(), keyC: e.kms.CreateKey(),
		keyX: e.kms.CreateKey(kmstest.WithAccount(attackerAccount)), attackerPlaintext: []byte("planted by the attacker")}
	var err error
	mk := func(id string) *materials.KMSKeyring {
		kr, err := materials.NewKMSKeyring(e.kms.Client(), id)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	w.kmsA, w.kmsB, w.kmsX = mk(w.keyA), mk(w.keyB), mk(w.keyX)
	if w.discA, err = materials.NewKMSDiscoveryKeyring(e.kms.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{w.keyA} }); err != nil {
		t.Fatal(err)
	}
	if w.discAC, err = materials.NewKMSDiscoveryKeyring(e.kms.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{w.keyA, w.keyC} }); err != nil {
		t.Fatal(err)
	}
	w.aesOld = mustAES(t, map[string]string{"key": "old"})
	return w
}

// plant writes key as the attacker: a V3 object under the attacker's key.
func (w *authzWorld) plant(t *testing.T, key string) {
	t.Helper()
	if err := w.e.put(w.e.client(w.kmsX), context.Background(), key, w.attackerPlaintext); err != nil {
		t.Fatal(err)
	}
}

// notLaundered checks that key still does not read under the victim's new
// key B, and that it was not rewritten.
func (w *authzWorld) notLaundered(t *testing.T, key string, metaBefore map[string]string) {
	t.Helper()
	if got, err := w.e.get(w.e.reader(w.kmsB), context.Background(), key); err == nil {
		t.Fatalf("%s reads as authentic under the new key B after the rotation: %q", key, got)
	}
	_, meta, err := w.e.raw(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"x-amz-3", "x-amz-w", "x-amz-t"} {
		if meta[k] != metaBefore[k] {
			t.Fatalf("%s: %s was rewritten", key, k)
		}
	}
}

// The attacker's object is refused by every strict current keyring, and a
// rotation to B must count it as a failure, not rotate it.
func TestRotatePrefixRefusesAttackerKMSKey(t *testing.T) {
	w := newAuthzWorld(t)
	e := w.e
	for name, current := range map[string]materials.Keyring{
		"kms key A":                   w.kmsA,
		"discovery allow A":           w.discA,
		"discovery allow A and C":     w.discAC,
		"multi kms A + aes":           materials.NewMulti(w.kmsA, w.aesOld),
		"caching kms A":               mustCaching(t, w.kmsA),
		"aes (migration AES to KMS)":  w.aesOld,
		"multi aes + discovery allow": materials.NewMulti(w.aesOld, w.discA),
	} {
		t.Run(name, func(t *testing.T) {
			prefix := "docs-" + sanitize(name) + "/"
			w.plant(t, prefix+"x")
			// The victim's own object, under the current keyring's key.
			var writer materials.Keyring = w.kmsA
			if current == w.aesOld {
				writer = w.aesOld
			}
			if err := e.put(e.client(writer), context.Background(), prefix+"good", []byte("mine")); err != nil {
				t.Fatal(err)
			}
			// The strict reader refuses the planted object.
			if _, err := e.get(e.client(current), context.Background(), prefix+"x"); err == nil {
				t.Fatal("the current keyring reads the attacker's object")
			}
			_, before, _ := e.raw(prefix + "x")
			out, err := e.client(current).RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{
				Bucket: &e.bucket, Prefix: aws.String(prefix), Keyring: w.kmsB,
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.Failed != 1 || out.Rotated != 1 || out.Skipped != 0 || len(out.Failures) != 1 || out.Failures[0].Key != prefix+"x" {
				t.Fatalf("counts %+v, failures %v; want the planted object failed and the victim's rotated", out.RotateCounts, out.Failures)
			}
			w.notLaundered(t, prefix+"x", before)
			if current == w.aesOld && !e.srv.Real {
				return // the in-process server keeps x-amz-m beside the new x-amz-t
			}
			if got, err := e.get(e.client(w.kmsB), context.Background(), prefix+"good"); err != nil || string(got) != "mine" {
				t.Fatalf("the victim's own object after the rotation: %q %v", got, err)
			}
		})
	}
}

func mustCaching(t *testing.T, inner materials.Keyring) *materials.CachingKeyring {
	t.Helper()
	c, err := materials.NewCachingKeyring(inner)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

// Rewrap of one object: every pair of current and new keyring kinds asks
// the current keyring, with its key identity, context and commitment
// policy, before anything is moved.
func TestRewrapRequiresCurrentKeyringAuthorization(t *testing.T) {
	w := newAuthzWorld(t)
	e := w.e
	aesNew := mustAES(t, map[string]string{"key": "new"})
	w.plant(t, "x")
	_, before, _ := e.raw("x")
	for name, c := range map[string]struct {
		current, next materials.Keyring
	}{
		"kms to kms (ReEncrypt)":        {w.kmsA, w.kmsB},
		"kms to aes":                    {w.kmsA, aesNew},
		"aes to kms":                    {w.aesOld, w.kmsB},
		"discovery allow-list to kms":   {w.discA, w.kmsB},
		"discovery allow-list 2 to kms": {w.discAC, w.kmsB},
		"discovery allow-list to aes":   {w.discAC, aesNew},
		"multi aes+kms A to kms":        {materials.NewMulti(w.aesOld, w.kmsA), w.kmsB},
		"caching discovery to kms":      {mustCaching(t, w.discA), w.kmsB},
	} {
		h := newHook(e)
		_, err := e.hclient(h, c.current).Rewrap(context.Background(), &encryptionclient.RewrapInput{
			Bucket: &e.bucket, Key: aws.String("x"), Keyring: c.next, EncryptionContext: map[string]string{},
		})
		if err == nil || errors.Is(err, encryptionclient.ErrSameWrappingKey) {
			t.Errorf("%s: re-wrapped the attacker's object (err %v)", name, err)
		}
		if h.n("CopyObject")+h.n("PutObject") != 0 {
			t.Errorf("%s: wrote %v", name, h.calls)
		}
	}
	w.notLaundered(t, "x", before)

	// The stored context is checked as a read checks it when the re-wrap
	// changes it: the victim's key, a context the victim never used.
	evil := map[string]string{"tenant": "evil"}
	if err := e.put(e.client(w.kmsA), encryptionclient.WithEncryptionContext(context.Background(), evil), "ctx", []byte("x")); err != nil {
		t.Fatal(err)
	}
	acme := encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"tenant": "acme"})
	for name, in := range map[string]struct {
		ctx context.Context
		in  encryptionclient.RewrapInput
	}{
		"expected acme, kms to kms":        {acme, encryptionclient.RewrapInput{Keyring: w.kmsB}},
		"expected acme, kms to aes":        {acme, encryptionclient.RewrapInput{Keyring: aesNew, EncryptionContext: map[string]string{}}},
		"no context asserted, rebinding":   {context.Background(), encryptionclient.RewrapInput{Keyring: w.kmsB, EncryptionContext: map[string]string{"tenant": "acme"}}},
		"no context asserted, dropping it": {context.Background(), encryptionclient.RewrapInput{Keyring: aesNew, EncryptionContext: map[string]string{}}},
	} {
		in.in.Bucket, in.in.Key = &e.bucket, aws.String("ctx")
		if _, err := e.client(w.kmsA).Rewrap(in.ctx, &in.in); !errors.Is(err, encryptionclient.ErrContextMismatch) {
			t.Errorf("%s: got %v, want ErrContextMismatch", name, err)
		}
	}

	// The commitment policy applies as on a read: a V2 object is re-wrapped
	// only by a client whose policy reads V2.
	v2 := e.client(w.kmsA, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt })
	if err := e.put(v2, context.Background(), "v2", []byte("old format")); err != nil {
		t.Fatal(err)
	}
	for name, next := range map[string]materials.Keyring{"kms": w.kmsB, "aes": aesNew} {
		in := &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("v2"), Keyring: next, DryRun: true}
		_, err := e.client(w.kmsA).Rewrap(context.Background(), in)
		mustErrorIs(t, err, encryptionclient.ErrPolicy)
		if _, err := e.reader(w.kmsA).Rewrap(context.Background(), in); err != nil {
			t.Errorf("%s: V2 re-wrap with a policy that reads V2: %v", name, err)
		}
	}
}

// KMS ReEncrypt names the current keyring's key as SourceKeyId, so that KMS
// itself refuses a blob of another key.
func TestReEncryptSendsSourceKeyId(t *testing.T) {
	w := newAuthzWorld(t)
	e := w.e
	if err := e.put(e.client(w.kmsA), context.Background(), "a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		current materials.Keyring
		want    string
	}{
		"kms keyring":                {w.kmsA, w.keyA},
		"discovery, one allowed key": {w.discA, w.keyA},
		"multi":                      {materials.NewMulti(w.aesOld, w.kmsA), w.keyA},
	} {
		e.kms.ResetCalls()
		_, err := e.client(c.current).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("a"), Keyring: w.kmsB, DryRun: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		call, ok := e.kms.LastCall("ReEncrypt")
		if !ok || call.SourceKeyID != c.want || call.KeyID != w.keyB {
			t.Errorf("%s: ReEncrypt sent SourceKeyId %q, DestinationKeyId %q; want %q, %q", name, call.SourceKeyID, call.KeyID, c.want, w.keyB)
		}
	}
}

// A KMS that reports other keys than the ones asked for is refused: the
// source key of ReEncrypt and Decrypt is checked against the current
// keyring, the destination against the new one.
func TestRewrapRefusesLyingKMSKeyID(t *testing.T) {
	w := newAuthzWorld(t)
	e := w.e
	aesNew := mustAES(t, map[string]string{"key": "new"})
	if err := e.put(e.client(w.kmsA), context.Background(), "a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := e.put(e.client(w.aesOld), context.Background(), "local", []byte("local")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		op            string
		lie           kmstest.Lie
		current, next materials.Keyring
		key           string
	}{
		"ReEncrypt source, kms keyring":          {"ReEncrypt", kmstest.Lie{SourceKeyID: w.keyX}, w.kmsA, w.kmsB, "a"},
		"ReEncrypt source, discovery allow-list": {"ReEncrypt", kmstest.Lie{SourceKeyID: w.keyX}, w.discAC, w.kmsB, "a"},
		"ReEncrypt destination":                  {"ReEncrypt", kmstest.Lie{KeyID: w.keyX}, w.kmsA, w.kmsB, "a"},
		"ReEncrypt destination equal to source":  {"ReEncrypt", kmstest.Lie{KeyID: w.keyA}, w.kmsA, w.kmsB, "a"},
		"Decrypt, kms keyring":                   {"Decrypt", kmstest.Lie{KeyID: w.keyX}, w.kmsA, aesNew, "a"},
		"Decrypt, discovery allow-list":          {"Decrypt", kmstest.Lie{KeyID: w.keyX}, w.discAC, aesNew, "a"},
		"Encrypt destination":                    {"Encrypt", kmstest.Lie{KeyID: w.keyX}, w.aesOld, w.kmsB, "local"},
	} {
		e.kms.SetLie(c.op, c.lie)
		h := newHook(e)
		_, err := e.hclient(h, c.current).Rewrap(context.Background(), &encryptionclient.RewrapInput{
			Bucket: &e.bucket, Key: aws.String(c.key), Keyring: c.next, EncryptionContext: map[string]string{},
		})
		e.kms.SetLie(c.op, kmstest.Lie{})
		if err == nil || errors.Is(err, encryptionclient.ErrSameWrappingKey) || h.n("CopyObject")+h.n("PutObject") != 0 {
			t.Errorf("%s: accepted (err %v, calls %v)", name, err, h.calls)
		}
	}
	// The read path makes the same check.
	e.kms.SetLie("Decrypt", kmstest.Lie{KeyID: w.keyX})
	if _, err := e.get(e.client(w.kmsA), context.Background(), "a"); !errors.Is(err, encryptionclient.ErrUnwrap) {
		t.Errorf("GetObject with a KMS that names another key: %v", err)
	}
	e.kms.SetLie("Decrypt", kmstest.Lie{})
	if got, err := e.get(e.client(w.kmsA), context.Background(), "a"); err != nil || string(got) != "a" {
		t.Fatalf("truthful KMS: %q %v", got, err)
	}
}

// An ordinary object whose name ends with the instruction-file suffix is
// rotated; only an instruction file of an existing object is skipped.
func TestRotatePrefixDotInstructionObject(t *testing.T) {
	e := newEnv(t)
	old, newKR := e.krs["aes"], mustAES(t, map[string]string{"generation": "2"})
	for _, suffix := range []string{"", ".env"} {
		prefix, sfx := "q/", ".instruction"
		opt := func(o *encryptionclient.Options) {}
		if suffix != "" {
			prefix, sfx = "q-custom/", suffix
			opt = func(o *encryptionclient.Options) { o.InstructionFileSuffix = suffix }
		}
		c := e.client(old, opt)
		// An ordinary object named like an instruction file, one whose base
		// name exists as an object without an instruction file, and one
		// that really has an instruction file.
		data := map[string][]byte{prefix + "report" + sfx: []byte("report"), prefix + "b" + sfx: []byte("b-suffix"), prefix + "b": []byte("b")}
		for k, v := range data {
			if err := e.put(c, context.Background(), k, v); err != nil {
				t.Fatal(err)
			}
		}
		instr := e.client(old, opt, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
		data[prefix+"i"] = []byte("with an instruction file")
		if err := e.put(instr, context.Background(), prefix+"i", data[prefix+"i"]); err != nil {
			t.Fatal(err)
		}
		if !e.exists(prefix + "i" + sfx) {
			t.Fatal("no instruction file written")
		}
		out, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String(prefix), Keyring: newKR})
		if err != nil {
			t.Fatal(err)
		}
		if out.Rotated != 4 || out.SkippedInstructionFile != 1 || out.Skipped != 1 || out.Failed != 0 {
			t.Fatalf("suffix %q: counts %+v, want 4 rotated and the one instruction file skipped", sfx, out.RotateCounts)
		}
		reader := e.client(newKR, opt)
		for k, v := range data {
			if got, err := e.get(reader, context.Background(), k); err != nil || !bytes.Equal(got, v) {
				t.Errorf("suffix %q: %s after the rotation: %q %v", sfx, k, got, err)
			}
		}
	}
}

// Two AES keys with the same (here: empty) material description are two
// keys: the rotation moves every object, and a second run proves each one
// already under the new key by unwrapping it. Only the same key is refused.
func TestRotateAESEqualDescriptions(t *testing.T) {
	e := newEnv(t)
	k1, k2 := randBytes(t, 32), randBytes(t, 32)
	old, err := materials.NewAESKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	next, err := materials.NewAESKeyring(k2)
	if err != nil {
		t.Fatal(err)
	}
	sameKey, err := materials.NewAESKeyring(bytes.Clone(k1))
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(old)
	for _, k := range []string{"eq/a", "eq/b", "eq/c"} {
		if err := e.put(c, context.Background(), k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("eq/a"), Keyring: sameKey})
	mustErrorIs(t, err, encryptionclient.ErrSameWrappingKey)

	out, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("eq/"), Keyring: next})
	if err != nil || out.Rotated != 3 || out.SkippedCurrent != 0 || out.Failed != 0 {
		t.Fatalf("rotation to another key with the same description: %+v %v", out, err)
	}
	for _, k := range []string{"eq/a", "eq/b", "eq/c"} {
		if got, err := e.get(e.client(next), context.Background(), k); err != nil || string(got) != k {
			t.Fatalf("%s with the new key: %q %v", k, got, err)
		}
		if _, err := e.get(c, context.Background(), k); err == nil {
			t.Fatalf("%s still reads with the old key", k)
		}
	}
	again, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("eq/"), Keyring: next})
	if err != nil || again.SkippedCurrent != 3 || again.Rotated != 0 || again.Failed != 0 {
		t.Fatalf("second run: %+v %v", again, err)
	}
}

// RSA: another key pair with the same description is another key; the same
// key pair, even as an encrypt-only keyring (public key), is the same key.
func TestRotateRSAEqualDescriptions(t *testing.T) {
	e := newEnv(t)
	current := testRSAKeyring(t) // description {}
	e.newKeyrings(t)             // generates rsa2Key
	otherPair, err := materials.NewRSAKeyring(&rsa2Key.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	samePublic, err := materials.NewRSAKeyring(&rsaKey.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(current)
	for _, k := range []string{"rsa-eq/a", "rsa-eq/b"} {
		if err := e.put(c, context.Background(), k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("rsa-eq/a"), Keyring: samePublic})
	mustErrorIs(t, err, encryptionclient.ErrSameWrappingKey)
	out, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("rsa-eq/"), Keyring: otherPair})
	if err != nil || out.Rotated != 2 || out.Failed != 0 {
		t.Fatalf("rotation to another RSA key pair with the same description: %+v %v", out, err)
	}
	reader, err := materials.NewRSAKeyring(nil, rsa2Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rsa-eq/a", "rsa-eq/b"} {
		if got, err := e.get(e.client(reader), context.Background(), k); err != nil || string(got) != k {
			t.Fatalf("%s with the new key pair: %q %v", k, got, err)
		}
	}
}
