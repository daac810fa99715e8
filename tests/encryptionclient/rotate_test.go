package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// prefixFixture is a prefix with encrypted objects of several kinds, plain
// objects, and an object outside the prefix.
type prefixFixture struct {
	encrypted map[string][]byte            // key -> plaintext
	contexts  map[string]map[string]string // key -> encryption context
	plain     []string
	instr     int // instruction files under the prefix
	outside   string
}

// fill writes the fixture: V3 KMS objects with and without a context, V2
// AES objects, V3 objects with instruction files, and unencrypted objects.
func fill(t *testing.T, e *env, prefix string, kmsKR, aesKR materials.Keyring) *prefixFixture {
	t.Helper()
	f := &prefixFixture{encrypted: map[string][]byte{}, contexts: map[string]map[string]string{}}
	v3 := e.client(kmsKR)
	v2 := e.client(aesKR, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt })
	instr := e.client(kmsKR, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	put := func(c *encryptionclient.Client, key string, ec map[string]string) {
		data := randBytes(t, 100+len(f.encrypted))
		ctx := context.Background()
		if ec != nil {
			ctx = encryptionclient.WithEncryptionContext(ctx, ec)
		}
		if err := e.put(c, ctx, key, data); err != nil {
			t.Fatal(err)
		}
		f.encrypted[key], f.contexts[key] = data, ec
	}
	for i := range 6 {
		put(v3, fmt.Sprintf("%skms-%02d", prefix, i), nil)
	}
	for i := range 4 {
		put(v3, fmt.Sprintf("%sctx-%02d", prefix, i), map[string]string{"tenant": fmt.Sprint(i)})
	}
	for i := range 5 {
		put(v2, fmt.Sprintf("%saes-v2-%02d", prefix, i), nil)
	}
	for i := range 3 {
		put(instr, fmt.Sprintf("%sinstr-%02d", prefix, i), nil)
		f.instr++
	}
	for i := range 3 {
		key := fmt.Sprintf("%splain-%02d", prefix, i)
		e.putRaw(key, []byte("not encrypted"), nil)
		f.plain = append(f.plain, key)
	}
	f.outside = "outside-" + strings.TrimSuffix(prefix, "/")
	put(v3, f.outside, nil)
	return f
}

// readsWith checks that every encrypted object under the prefix reads with
// kr (with its context), and reports how many do.
func (f *prefixFixture) readsWith(t *testing.T, e *env, kr materials.Keyring, prefix string) int {
	t.Helper()
	c := e.reader(kr)
	n := 0
	for key, data := range f.encrypted {
		if key == f.outside {
			continue
		}
		ctx := context.Background()
		if ec := f.contexts[key]; ec != nil {
			ctx = encryptionclient.WithEncryptionContext(ctx, ec)
		}
		got, err := e.get(c, ctx, key)
		if err == nil && bytes.Equal(got, data) {
			n++
		}
	}
	return n
}

func (f *prefixFixture) inPrefix() int { return len(f.encrypted) - 1 }

func TestRotatePrefix(t *testing.T) {
	e := newEnv(t)
	if e.realKMS {
		t.Skip("needs two KMS keys of the test server")
	}
	const prefix = "rot/"
	oldKMS, oldAES := e.krs["kms"], e.krs["aes"]
	f := fill(t, e, prefix, oldKMS, oldAES)
	newKey := e.kms.CreateKey()
	newKR, err := materials.NewKMSKeyring(e.kms.Client(), newKey)
	if err != nil {
		t.Fatal(err)
	}
	// The client reads the old objects with both old keyrings.
	h := newHook(e)
	h.listMaxKeys = 4 // several listing pages
	// The fixture holds V2 objects: the rotation reads them only under a
	// commitment policy that reads V2, as GetObject would.
	c := e.hclient(h, materials.NewMulti(oldKMS, oldAES), func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt })
	enc := f.inPrefix()
	listed := enc + f.instr + len(f.plain)

	// A dry run counts what a real run would do, and changes nothing.
	dry, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{
		Bucket: &e.bucket, Prefix: aws.String(prefix), Keyring: newKR, DryRun: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Rotated != int64(enc) || h.n("CopyObject")+h.n("PutObject") != 0 {
		t.Fatalf("dry run: %+v, calls %v", dry.RotateCounts, h.calls)
	}
	if n := f.readsWith(t, e, newKR, prefix); n != 0 {
		t.Fatalf("after a dry run %d objects read with the new key", n)
	}

	var mu sync.Mutex
	var events []encryptionclient.RotateEvent
	e.kms.ResetCalls()
	out, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{
		Bucket: &e.bucket, Prefix: aws.String(prefix), Keyring: newKR, Concurrency: 4,
		Progress: func(ev encryptionclient.RotateEvent) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := encryptionclient.RotateCounts{
		Rotated: int64(enc), Skipped: int64(f.instr + len(f.plain)),
		SkippedNotEncrypted: int64(len(f.plain)), SkippedInstructionFile: int64(f.instr),
	}
	if out.RotateCounts != want || len(out.Failures) != 0 {
		t.Fatalf("counts %+v, want %+v; failures %v", out.RotateCounts, want, out.Failures)
	}
	if out.RotateCounts.Rotated != dry.Rotated || out.Skipped != dry.Skipped {
		t.Errorf("the dry run predicted %+v, the run did %+v", dry.RotateCounts, out.RotateCounts)
	}
	if len(events) != listed {
		t.Fatalf("%d progress events for %d objects", len(events), listed)
	}
	last := events[len(events)-1]
	if last.Counts != want || out.ResumeAfter != prefix+"plain-02" || last.ResumeAfter != out.ResumeAfter {
		t.Errorf("last event %+v, resume after %q", last, out.ResumeAfter)
	}
	// KMS objects moved by ReEncrypt, AES ones unwrapped and wrapped by
	// KMS Encrypt: no plaintext key left KMS for the KMS objects.
	kmsObjects := 6 + 4 + 3
	if e.kms.Calls("ReEncrypt") != kmsObjects || e.kms.Calls("Encrypt") != 5 || e.kms.Calls("Decrypt") != 0 {
		t.Errorf("KMS calls: %d ReEncrypt, %d Encrypt, %d Decrypt; want %d, 5, 0",
			e.kms.Calls("ReEncrypt"), e.kms.Calls("Encrypt"), e.kms.Calls("Decrypt"), kmsObjects)
	}
	if n := f.readsWith(t, e, newKR, prefix); n != enc {
		t.Fatalf("%d of %d objects read with the new key", n, enc)
	}
	if n := f.readsWith(t, e, materials.NewMulti(oldKMS, oldAES), prefix); n != 0 {
		t.Fatalf("%d objects still read with the old keys", n)
	}
	if got, err := e.get(e.client(oldKMS), context.Background(), f.outside); err != nil || !bytes.Equal(got, f.encrypted[f.outside]) {
		t.Fatal("an object outside the prefix was rotated")
	}

	// A second run, with the new keyring as the client's, finds nothing to
	// do.
	e.kms.ResetCalls()
	h2 := newHook(e)
	again, err := e.hclient(h2, newKR, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }).RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String(prefix), Keyring: newKR})
	if err != nil {
		t.Fatal(err)
	}
	if again.Rotated != 0 || again.SkippedCurrent != int64(enc) || again.Failed != 0 || h2.n("CopyObject")+h2.n("PutObject") != 0 {
		t.Fatalf("second run: %+v, calls %v", again.RotateCounts, h2.calls)
	}
}

// An interrupted rotation resumes from the position it reported, and
// failures are reported without stopping the rest.
func TestRotatePrefixResumeAndFailures(t *testing.T) {
	e := newEnv(t)
	old := e.krs["aes"]
	newKR := mustAES(t, map[string]string{"generation": "2"})
	c := e.client(old)
	var keys []string
	data := map[string][]byte{}
	for i := range 30 {
		key := fmt.Sprintf("res/%03d", i)
		data[key] = randBytes(t, 50)
		if err := e.put(c, context.Background(), key, data[key]); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	// One object with a broken envelope.
	body, meta, _ := e.raw("res/007")
	meta["x-amz-3"] = "not base64!"
	e.putRaw("res/007", body, meta)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := 0
	first, err := c.RotatePrefix(ctx, &encryptionclient.RotatePrefixInput{
		Bucket: &e.bucket, Prefix: aws.String("res/"), Keyring: newKR, Concurrency: 3,
		Progress: func(ev encryptionclient.RotateEvent) {
			// Interrupt after a dozen objects. The position may still be
			// empty then: under load one worker can stay on the first
			// object while the others finish a dozen more, and until it
			// is done there is no position to resume from (the second
			// run then starts over). Waiting for the position to move
			// instead let the whole listing finish before the cancel.
			if seen++; seen == 12 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	// At most the dozen finished objects and the two in flight are behind
	// the position: a good part of the listing is left.
	pos := first.ResumeAfter
	if pos > keys[14] {
		t.Fatalf("resume position %q after an interrupt at the twelfth object", pos)
	}
	// Everything up to the position is done: rotated, or the broken one.
	reader := e.client(newKR)
	for _, k := range keys {
		if k > pos || k == "res/007" {
			continue
		}
		if got, err := e.get(reader, context.Background(), k); err != nil || !bytes.Equal(got, data[k]) {
			t.Fatalf("%s is before the resume position but not rotated: %v", k, err)
		}
	}

	second, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{
		Bucket: &e.bucket, Prefix: aws.String("res/"), StartAfter: aws.String(pos), Keyring: newKR,
	})
	if err != nil {
		t.Fatal(err)
	}
	if second.ResumeAfter != keys[len(keys)-1] {
		t.Errorf("resume position after a complete run: %q", second.ResumeAfter)
	}
	// The second run visits only the keys after the position; those the
	// first run already rotated count as current.
	after := 0
	for _, k := range keys {
		if k > pos && k != "res/007" {
			after++
		}
	}
	if got := second.Rotated + second.SkippedCurrent; got != int64(after) || second.Rotated == 0 {
		t.Errorf("second run: %d rotated + %d current, want %d keys after %q", second.Rotated, second.SkippedCurrent, after, pos)
	}
	// The broken object fails once in each run that visits it: the first
	// run may have finished it (concurrently) past the resume position, and
	// the second run then retries it.
	wantFailed := int64(1)
	if "res/007" > pos && first.Failed == 1 {
		wantFailed = 2
	}
	if first.Failed+second.Failed != wantFailed {
		t.Errorf("failures %d + %d, want %d (resume position %q)", first.Failed, second.Failed, wantFailed, pos)
	}
	failures := append(first.Failures, second.Failures...)
	for _, f := range failures {
		if f.Key != "res/007" || !errors.Is(f.Err, encryptionclient.ErrMalformed) {
			t.Errorf("failure %v", f)
		}
	}
	if int64(len(failures)) != wantFailed {
		t.Errorf("failures %v", failures)
	}
	for _, k := range keys {
		if k == "res/007" {
			continue
		}
		if got, err := e.get(reader, context.Background(), k); err != nil || !bytes.Equal(got, data[k]) {
			t.Fatalf("%s not rotated: %v", k, err)
		}
	}
	// A full run now: everything current but the broken object.
	third, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("res/"), Keyring: newKR})
	if err != nil || third.Rotated != 0 || third.SkippedCurrent != 29 || third.Failed != 1 {
		t.Fatalf("third run: %+v %v", third, err)
	}
}

func TestRotatePrefixListingErrorAndInput(t *testing.T) {
	e := newEnv(t)
	h := newHook(e)
	h.onList = func(*s3.ListObjectsV2Output) error { return errors.New("listing broke") }
	c := e.hclient(h, e.krs["aes"])
	out, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Keyring: mustAES(t, nil)})
	if err == nil || out == nil || out.Rotated != 0 {
		t.Fatalf("listing error: %v %+v", err, out)
	}
	for name, in := range map[string]*encryptionclient.RotatePrefixInput{
		"nil":         nil,
		"no bucket":   {Keyring: mustAES(t, nil)},
		"no keyring":  {Bucket: &e.bucket},
		"concurrency": {Bucket: &e.bucket, Keyring: mustAES(t, nil), Concurrency: -1},
	} {
		if _, err := c.RotatePrefix(context.Background(), in); !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// KMS rotates a key's backing material automatically: objects written
// before stay readable with the same keyring, and a re-wrap has nothing to
// do (the key ARN is the same).
func TestKMSAutomaticRotation(t *testing.T) {
	e := newEnv(t)
	if e.realKMS {
		t.Skip("rotates a key of the test server")
	}
	kr := e.krs["kms"]
	c := e.client(kr)
	for i := range 3 {
		if err := e.put(c, context.Background(), fmt.Sprintf("auto/before-%d", i), []byte("before")); err != nil {
			t.Fatal(err)
		}
	}
	e.kms.RotateKey(e.keyARN)
	if e.kms.KeyVersions(e.keyARN) != 2 {
		t.Fatal("the key did not rotate")
	}
	if err := e.put(c, context.Background(), "auto/after", []byte("after")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"auto/before-0", "auto/before-1", "auto/before-2", "auto/after"} {
		if _, err := e.get(c, context.Background(), k); err != nil {
			t.Fatalf("%s after rotation: %v", k, err)
		}
	}
	_, err := c.Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("auto/before-0"), Keyring: kr})
	mustErrorIs(t, err, encryptionclient.ErrSameWrappingKey)
	out, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("auto/"), Keyring: kr})
	if err != nil || out.SkippedCurrent != 4 || out.Rotated != 0 {
		t.Fatalf("rotation after automatic rotation: %+v %v", out, err)
	}
}

// Moving an alias to a new key: the alias keyring no longer reads old
// objects (KMS refuses a KeyId that is not the blob's key), a discovery
// keyring with an allow-list of both keys or a Multi keyring with the old
// key does, and a prefix rotation moves the old objects to the key the
// alias names now.
func TestKMSAliasMove(t *testing.T) {
	e := newEnv(t)
	if e.realKMS {
		t.Skip("moves an alias of the test server")
	}
	keyA, keyB := e.kms.CreateKey(), e.kms.CreateKey()
	e.kms.CreateAlias("alias/app", keyA)
	alias, err := materials.NewKMSKeyring(e.kms.Client(), "alias/app")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.put(e.client(alias), context.Background(), "alias/old", []byte("old")); err != nil {
		t.Fatal(err)
	}
	e.kms.UpdateAlias("alias/app", keyB)
	if err := e.put(e.client(alias), context.Background(), "alias/new", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.kms.LastCall("GenerateDataKey"); c.KeyID != "alias/app" {
		t.Fatalf("GenerateDataKey sent KeyId %q", c.KeyID)
	}

	_, err = e.get(e.client(alias), context.Background(), "alias/old")
	var incorrect *types.IncorrectKeyException
	if !errors.Is(err, encryptionclient.ErrUnwrap) || !errors.As(err, &incorrect) {
		t.Fatalf("alias keyring on an object of the old key: %v", err)
	}

	both, err := materials.NewKMSDiscoveryKeyring(e.kms.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{keyA, keyB} })
	if err != nil {
		t.Fatal(err)
	}
	onlyB, err := materials.NewKMSDiscoveryKeyring(e.kms.Client(), func(o *materials.KMSDiscoveryOptions) { o.AllowedKeyARNs = []string{keyB} })
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := materials.NewKMSKeyring(e.kms.Client(), keyA)
	if err != nil {
		t.Fatal(err)
	}
	for name, kr := range map[string]materials.Keyring{
		"discovery allow-list A, B": both,
		"multi alias + old key":     materials.NewMulti(alias, oldKey),
	} {
		for key, want := range map[string]string{"alias/old": "old", "alias/new": "new"} {
			if got, err := e.get(e.client(kr), context.Background(), key); err != nil || string(got) != want {
				t.Errorf("%s reading %s: %q %v", name, key, got, err)
			}
		}
	}
	if _, err := e.get(e.client(onlyB), context.Background(), "alias/old"); !errors.Is(err, materials.ErrNotMine) {
		t.Errorf("allow-list without the old key: %v", err)
	}

	e.kms.ResetCalls()
	out, err := e.client(both).RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("alias/"), Keyring: alias})
	if err != nil || out.Rotated != 1 || out.SkippedCurrent != 1 {
		t.Fatalf("rotation after the alias move: %+v %v", out, err)
	}
	if e.kms.Calls("ReEncrypt") != 2 || e.kms.Calls("Decrypt") != 0 {
		t.Errorf("%d ReEncrypt, %d Decrypt calls; want 2 and 0", e.kms.Calls("ReEncrypt"), e.kms.Calls("Decrypt"))
	}
	for key, want := range map[string]string{"alias/old": "old", "alias/new": "new"} {
		if got, err := e.get(e.client(alias), context.Background(), key); err != nil || string(got) != want {
			t.Errorf("alias keyring reading %s after the rotation: %v", key, err)
		}
	}
	// The old key may go now: nothing needs it.
	e.kms.DisableKey(keyA)
	if got, err := e.get(e.client(alias), context.Background(), "alias/old"); err != nil || string(got) != "old" {
		t.Errorf("after disabling the old key: %v", err)
	}
}

// Rotating a local AES key: the new keyring keeps the old key for
// decryption under its material description until the prefix is rotated;
// after that the new key alone reads everything.
func TestLocalKeyRotationRecipe(t *testing.T) {
	e := newEnv(t)
	oldKey, newKey := randBytes(t, 32), randBytes(t, 32)
	v1 := map[string]string{"key": "v1"}
	v2 := map[string]string{"key": "v2"}
	oldKR, err := materials.NewAESKeyring(oldKey, func(o *materials.AESKeyringOptions) { o.MaterialDescription = v1 })
	if err != nil {
		t.Fatal(err)
	}
	if err := e.put(e.client(oldKR), context.Background(), "local/a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	transition, err := materials.NewAESKeyring(newKey, func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = v2
		o.AdditionalKeys = []materials.AESKey{{Key: oldKey, MaterialDescription: v1}}
	})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(transition)
	if err := e.put(c, context.Background(), "local/b", []byte("b")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"local/a", "local/b"} {
		if _, err := e.get(c, context.Background(), k); err != nil {
			t.Fatalf("transition keyring reading %s: %v", k, err)
		}
	}
	newOnly, err := materials.NewAESKeyring(newKey, func(o *materials.AESKeyringOptions) { o.MaterialDescription = v2 })
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("local/"), Keyring: newOnly})
	if err != nil || out.Rotated != 1 || out.SkippedCurrent != 1 {
		t.Fatalf("rotation: %+v %v", out, err)
	}
	for k, want := range map[string]string{"local/a": "a", "local/b": "b"} {
		if got, err := e.get(e.client(newOnly), context.Background(), k); err != nil || string(got) != want {
			t.Fatalf("new key alone reading %s: %v", k, err)
		}
	}
	_, meta, _ := e.raw("local/a")
	if d, _ := envelope.ParseDescription(meta["x-amz-m"]); !maps.Equal(d, v2) {
		t.Errorf("material description after rotation: %v", d)
	}
}

// Every RotateStatus has a name.
func TestRotateStatusString(t *testing.T) {
	var names []string
	for s := encryptionclient.RotateRotated; s <= encryptionclient.RotateFailed; s++ {
		names = append(names, s.String())
	}
	sort.Strings(names)
	if slices.Contains(names, "unknown") || len(slices.Compact(names)) != 5 {
		t.Fatalf("names %v", names)
	}
}
