package objectcrypto_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// The fuzz targets of the read path. FuzzOpenStream feeds arbitrary
// envelopes (metadata and instruction file), bodies, expected encryption
// contexts and policies through Decode, Open, ReadVerified, the streaming
// reader and the range reader, seeded with every interop vector; the
// keyrings are those the vectors need, so the seeds reach the content
// ciphers and mutations of them exercise every check on the way.
// FuzzRangeReader checks the range arithmetic: any satisfiable Range of any
// object decrypts to exactly those plaintext bytes.

// fuzzKMS is an in-memory KMS (no HTTP, so fuzzing stays fast) that answers
// Decrypt as real KMS does for the vectors' data keys: the blob must be
// known, the context equal and the key id, when sent, the blob's.
type fuzzKMS struct {
	entries map[string]fuzzKMSEntry
}

type fuzzKMSEntry struct {
	keyID string
	ctx   map[string]string
	key   []byte
}

func (k *fuzzKMS) GenerateDataKey(context.Context, *kms.GenerateDataKeyInput, ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	return nil, errors.New("fuzzKMS: decrypt only")
}

func (k *fuzzKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	e, ok := k.entries[string(in.CiphertextBlob)]
	if !ok || !maps.Equal(e.ctx, in.EncryptionContext) {
		return nil, &types.InvalidCiphertextException{Message: aws.String("fuzzKMS: invalid ciphertext")}
	}
	if in.KeyId != nil && *in.KeyId != e.keyID {
		return nil, &types.IncorrectKeyException{Message: aws.String("fuzzKMS: incorrect key")}
	}
	return &kms.DecryptOutput{Plaintext: bytes.Clone(e.key), KeyId: aws.String(e.keyID)}, nil
}

// fuzzWorld is built once per process: the vectors and the keyrings they
// need, without duplicates.
type fuzzWorld struct {
	vectors  []*testvectors.Vector
	keyrings []materials.Keyring
	index    map[string]int // keyring signature -> index
}

var (
	fuzzOnce  sync.Once
	fuzzW     *fuzzWorld
	fuzzWErr  error
	fuzzKMSDB = &fuzzKMS{entries: map[string]fuzzKMSEntry{}}
)

func loadFuzzWorld(tb testing.TB) *fuzzWorld {
	tb.Helper()
	fuzzOnce.Do(func() { fuzzW, fuzzWErr = buildFuzzWorld() })
	if fuzzWErr != nil {
		tb.Fatal(fuzzWErr)
	}
	return fuzzW
}

func buildFuzzWorld() (*fuzzWorld, error) {
	vs, err := testvectors.Load(testvectors.Dir())
	if err != nil {
		return nil, err
	}
	w := &fuzzWorld{vectors: vs, index: map[string]int{}}
	b64 := base64.StdEncoding.DecodeString
	for _, v := range vs {
		for _, e := range v.KMS {
			blob, err1 := b64(e.CiphertextBlobB64)
			key, err2 := b64(e.PlaintextKeyB64)
			if err := errors.Join(err1, err2); err != nil {
				return nil, err
			}
			fuzzKMSDB.entries[string(blob)] = fuzzKMSEntry{keyID: e.KeyID, ctx: e.EncryptionContext, key: key}
		}
		sig := fuzzKeyringSignature(v)
		if _, ok := w.index[sig]; ok {
			continue
		}
		kr, err := fuzzKeyring(v)
		if err != nil {
			return nil, err
		}
		w.index[sig] = len(w.keyrings)
		w.keyrings = append(w.keyrings, kr)
	}
	return w, nil
}

func fuzzKeyringSignature(v *testvectors.Vector) string {
	if v.Keyring != nil {
		b, _ := json.Marshal(v.Keyring)
		return "local:" + string(b)
	}
	if len(v.KMS) > 0 {
		return "kms:" + v.KMS[0].KeyID
	}
	return "none"
}

// fuzzKeyring builds the keyring of a vector with every legacy wrap
// enabled: the policy given to Open decides what is allowed.
func fuzzKeyring(v *testvectors.Vector) (materials.Keyring, error) {
	b64 := base64.StdEncoding.DecodeString
	if k := v.Keyring; k != nil {
		switch k.Type {
		case "aes":
			key, err := b64(k.KeyB64)
			if err != nil {
				return nil, err
			}
			var extra []materials.AESKey
			for _, a := range k.AdditionalDecryptionKeys {
				ak, err := b64(a.KeyB64)
				if err != nil {
					return nil, err
				}
				extra = append(extra, materials.AESKey{Key: ak, MaterialDescription: a.MaterialDescription})
			}
			return materials.NewAESKeyring(key, func(o *materials.AESKeyringOptions) {
				o.MaterialDescription, o.AdditionalKeys, o.EnableLegacyWrapping = k.MaterialDescription, extra, true
			})
		case "rsa":
			priv, err := materials.ParseRSAPrivateKey([]byte(k.PrivateKeyPEM))
			if err != nil {
				return nil, err
			}
			var extra []materials.RSAKey
			for _, a := range k.AdditionalDecryptionKeys {
				p, err := materials.ParseRSAPrivateKey([]byte(a.PrivateKeyPEM))
				if err != nil {
					return nil, err
				}
				extra = append(extra, materials.RSAKey{PrivateKey: p, MaterialDescription: a.MaterialDescription})
			}
			return materials.NewRSAKeyring(&priv.PublicKey, priv, func(o *materials.RSAKeyringOptions) {
				o.MaterialDescription, o.AdditionalKeys, o.EnableLegacyWrapping = k.MaterialDescription, extra, true
			})
		}
		return nil, errors.New("unknown keyring type " + k.Type)
	}
	id := "arn:aws:kms:us-west-2:111122223333:key/none"
	if len(v.KMS) > 0 {
		id = v.KMS[0].KeyID
	}
	return materials.NewKMSKeyring(fuzzKMSDB, id, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = true })
}

// fuzzPolicies are the policies the mode byte selects.
var fuzzPolicies = []envelope.Policy{
	{Commitment: envelope.RequireEncryptRequireDecrypt},
	{Commitment: envelope.RequireEncryptAllowDecrypt},
	{Commitment: envelope.RequireEncryptAllowDecrypt, LegacyUnauthenticated: true},
	{Commitment: envelope.ForbidEncryptAllowDecrypt, LegacyUnauthenticated: true},
}

func fuzzPolicyIndex(v *testvectors.Vector) uint8 {
	switch {
	case v.RequireDecrypt():
		return 0
	case v.OptionBool("enable_legacy_unauthenticated_modes"):
		return 2
	}
	return 1
}

// openErrorClasses are the error classes Open may return: an envelope the
// policy refuses or that cannot be used, a wrapped key that does not
// unwrap or is not the keyring's, a context that does not match, a
// commitment that does not match.
var openErrorClasses = []error{
	envelope.ErrPolicy, envelope.ErrMalformed, envelope.ErrCommitmentMismatch,
	materials.ErrUnwrap, materials.ErrNotMine, materials.ErrContextMismatch,
	materials.ErrContextNotSupported, materials.ErrReservedContextKey,
}

// bodyErrorClasses are the error classes of reading a body.
var bodyErrorClasses = []error{envelope.ErrAuthentication, envelope.ErrInvalidCiphertext, objectcrypto.ErrTooLarge}

func isOneOf(err error, classes []error) bool {
	for _, c := range classes {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}

const fuzzLimit = 1 << 20

func FuzzOpenStream(f *testing.F) {
	w := loadFuzzWorld(f)
	seeds := 0
	for _, v := range w.vectors {
		if v.CiphertextRef.Size > 16<<10 {
			continue // large bodies slow every execution down
		}
		body, err := v.Ciphertext()
		if err != nil {
			f.Fatal(err)
		}
		meta, _ := json.Marshal(v.Metadata)
		var instr []byte
		if v.InstructionFile != nil {
			instr = []byte(v.InstructionFile.Body)
		}
		ec, _ := json.Marshal(v.UserEncryptionContext)
		f.Add(meta, instr, body, string(ec), uint8(w.index[fuzzKeyringSignature(v)]), fuzzPolicyIndex(v))
		seeds++
	}
	if seeds < 100 {
		f.Fatalf("only %d seeds", seeds)
	}
	f.Fuzz(func(t *testing.T, metaJSON, instr, body []byte, ecJSON string, kr, mode uint8) {
		checkOpenStream(t, w, metaJSON, instr, body, ecJSON, kr, mode)
	})
}

// checkOpenStream runs one input through the whole read path.
func checkOpenStream(t *testing.T, w *fuzzWorld, metaJSON, instr, body []byte, ecJSON string, kr, mode uint8) {
	var meta map[string]string
	if json.Unmarshal(metaJSON, &meta) != nil {
		return
	}
	var ec map[string]string
	if ecJSON != "" && ecJSON != "null" && json.Unmarshal([]byte(ecJSON), &ec) != nil {
		return
	}
	if len(instr) == 0 {
		instr = nil
	}
	env, err := envelope.Decode(meta, instr)
	if err != nil {
		if !errors.Is(err, envelope.ErrMalformed) && !errors.Is(err, envelope.ErrNotEncrypted) {
			t.Fatalf("Decode: untyped error %v", err)
		}
		return
	}
	policy := fuzzPolicies[int(mode)%len(fuzzPolicies)]
	op, err := objectcrypto.Open(context.Background(), w.keyrings[int(kr)%len(w.keyrings)],
		objectcrypto.DecryptOptions{Policy: policy, EncryptionContext: ec}, env)
	if err != nil {
		if op != nil {
			t.Fatal("Open returned an opener with an error")
		}
		if !isOneOf(err, openErrorClasses) {
			t.Fatalf("Open: untyped error %v", err)
		}
		return
	}
	defer op.Close()
	if !env.Suite.Committing() && policy.Commitment == envelope.RequireEncryptRequireDecrypt {
		t.Fatalf("opened a %v object under REQUIRE_DECRYPT", env.Suite)
	}
	if !env.Suite.Authenticated() && !policy.LegacyUnauthenticated {
		t.Fatalf("opened a %v object without the legacy opt-in", env.Suite)
	}

	// Verified read: all or nothing.
	pt, verr := op.ReadVerified(bytes.NewReader(body), fuzzLimit, int64(len(body)))
	if verr != nil {
		if pt != nil {
			t.Fatalf("ReadVerified released %d bytes with error %v", len(pt), verr)
		}
		if !isOneOf(verr, bodyErrorClasses) {
			t.Fatalf("ReadVerified: untyped error %v", verr)
		}
	} else if env.Suite.Authenticated() && len(pt)+envelope.TagSize != len(body) {
		t.Fatalf("GCM: %d plaintext bytes from a %d-byte body", len(pt), len(body))
	}

	// The verified reader GetObject uses: the same verdict, the same bytes.
	vr, vrerr := op.VerifiedReader(bytes.NewReader(body), fuzzLimit, -1)
	if (vrerr == nil) != (verr == nil) {
		t.Fatalf("VerifiedReader error %v, ReadVerified error %v", vrerr, verr)
	}
	if vrerr == nil {
		got, err := io.ReadAll(vr)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("VerifiedReader gave other bytes (err %v)", err)
		}
	} else if !isOneOf(vrerr, bodyErrorClasses) {
		t.Fatalf("VerifiedReader: untyped error %v", vrerr)
	}

	// Streaming read, in small irregular reads: same bytes, same verdict.
	r, err := op.UnverifiedReader(bytes.NewReader(body))
	if err != nil {
		if !isOneOf(err, bodyErrorClasses) {
			t.Fatalf("UnverifiedReader: untyped error %v", err)
		}
		if verr == nil {
			t.Fatalf("UnverifiedReader failed (%v) where ReadVerified succeeded", err)
		}
		return
	}
	var out bytes.Buffer
	buf := make([]byte, 1+len(body)%23)
	var serr error
	for i := 0; ; i++ {
		if i > 4*len(body)+16 {
			t.Fatal("streaming reader does not terminate")
		}
		n, err := r.Read(buf[:1+i%len(buf)])
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			serr = err
			break
		}
	}
	switch {
	case verr == nil && serr != nil:
		t.Fatalf("stream failed (%v) where the verified read succeeded", serr)
	case verr == nil && !bytes.Equal(out.Bytes(), pt):
		t.Fatal("stream and verified read disagree")
	case verr != nil && !errors.Is(verr, objectcrypto.ErrTooLarge) && serr == nil:
		t.Fatalf("stream succeeded where the verified read failed with %v", verr)
	case serr != nil && !isOneOf(serr, bodyErrorClasses):
		t.Fatalf("stream: untyped error %v", serr)
	}

	// Ranges of an authenticated object decrypt to the same bytes.
	if verr == nil && op.Authenticated() && len(pt) > 0 {
		off := int64(len(body)*7919) % int64(len(pt))
		rr, err := op.RangeReader(bytes.NewReader(body[off:len(pt)]), off)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rr)
		if err != nil || !bytes.Equal(got, pt[off:]) {
			t.Fatalf("range from %d: %v, equal=%v", off, err, bytes.Equal(got, pt[off:]))
		}
	}
}

// TestFuzzSeedsReachTheCiphers makes sure the fuzz corpus is useful: every
// positive vector decrypts through checkOpenStream's path with the keyring
// and policy its seed selects.
func TestFuzzSeedsReachTheCiphers(t *testing.T) {
	w := loadFuzzWorld(t)
	opened := 0
	for _, v := range w.vectors {
		if v.Negative() {
			continue
		}
		var instr []byte
		if v.InstructionFile != nil {
			instr = []byte(v.InstructionFile.Body)
		}
		env, err := envelope.Decode(v.Metadata, instr)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		op, err := objectcrypto.Open(context.Background(), w.keyrings[w.index[fuzzKeyringSignature(v)]],
			objectcrypto.DecryptOptions{Policy: fuzzPolicies[fuzzPolicyIndex(v)], EncryptionContext: v.UserEncryptionContext}, env)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		op.Close()
		opened++
	}
	t.Logf("%d positive vectors open with the fuzz keyrings (%d keyrings)", opened, len(w.keyrings))
}

// TestFuzzOpenStreamRegressions replays inputs that once failed
// FuzzOpenStream (none so far), plus hand-made edge cases.
func TestFuzzOpenStreamRegressions(t *testing.T) {
	w := loadFuzzWorld(t)
	var v *testvectors.Vector
	for _, c := range w.vectors {
		if !c.Negative() && c.Format == "v3" && c.Keyring == nil && c.CiphertextRef.Size > 0 && c.CiphertextRef.Size < 4096 {
			v = c
			break
		}
	}
	if v == nil {
		t.Fatal("no small V3 KMS vector")
	}
	meta, _ := json.Marshal(v.Metadata)
	body, _ := v.Ciphertext()
	kr := uint8(w.index[fuzzKeyringSignature(v)])
	ec, _ := json.Marshal(v.UserEncryptionContext)
	cases := map[string][]byte{
		"empty body":      {},
		"tag only":        body[len(body)-envelope.TagSize:],
		"one byte short":  body[:len(body)-1],
		"one byte more":   append(bytes.Clone(body), 0),
		"doubled":         append(bytes.Clone(body), body...),
		"original":        body,
		"first bit":       flipFirst(body),
		"fifteen bytes":   body[:15],
		"seventeen bytes": body[:17],
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for mode := uint8(0); mode < uint8(len(fuzzPolicies)); mode++ {
			t.Run(fmt.Sprintf("%s/policy%d", strings.ReplaceAll(n, " ", "_"), mode), func(t *testing.T) {
				checkOpenStream(t, w, meta, nil, cases[n], string(ec), kr, mode)
			})
		}
	}
}

func flipFirst(b []byte) []byte {
	c := bytes.Clone(b)
	c[0] ^= 1
	return c
}

// FuzzRangeReader checks the range arithmetic end to end: a Range header
// parsed against an object's plaintext size, the ciphertext bytes a ranged
// GET would fetch (the same offsets: GCM ciphertext is as long as the
// plaintext, the tag follows), and the CTR key stream at that offset must
// give exactly the plaintext bytes of the range.
func FuzzRangeReader(f *testing.F) {
	for _, s := range []struct {
		h    string
		size uint32
	}{{"bytes=0-0", 1}, {"bytes=0-15", 16}, {"bytes=15-16", 33}, {"bytes=-1", 4096}, {"bytes=4095-", 4096}, {"bytes=17-70000", 70001}, {"bytes=65535-65537", 70000}, {"bytes=-70000", 5}} {
		f.Add(s.h, s.size, uint8(0))
	}
	aesKR, err := materials.NewAESKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, h string, size uint32, policy uint8) {
		n := int64(size % (1 << 18))
		p := fuzzPolicies[int(policy)%2] // V3 or, under the migration policy, V3 too
		if policy&2 != 0 {
			p = envelope.Policy{Commitment: envelope.ForbidEncryptAllowDecrypt} // V2
		}
		r, err := envelope.ParseRange(h, n)
		if err != nil {
			var re *envelope.RangeError
			if !errors.As(err, &re) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if r.First < 0 || r.Last < r.First || r.Last >= n || r.Len() != r.Last-r.First+1 {
			t.Fatalf("%q of %d: %+v", h, n, r)
		}
		pt := make([]byte, n)
		for i := range pt {
			pt[i] = byte(i*131 + i>>8)
		}
		s, err := objectcrypto.NewSealer(context.Background(), aesKR, p, nil, n)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := io.ReadAll(s.Reader(bytes.NewReader(pt)))
		if err != nil || int64(len(ct)) != n+envelope.TagSize {
			t.Fatalf("seal: %v, %d bytes", err, len(ct))
		}
		op, err := objectcrypto.Open(context.Background(), aesKR, objectcrypto.DecryptOptions{Policy: envelope.Policy{Commitment: envelope.ForbidEncryptAllowDecrypt}}, s.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		defer op.Close()
		rr, err := op.RangeReader(bytes.NewReader(ct[r.First:r.Last+1]), r.First)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(io.LimitReader(rr, r.Len()))
		if err != nil || !bytes.Equal(got, pt[r.First:r.Last+1]) {
			t.Fatalf("%q of %d (%+v): %v, equal=%v", h, n, r, err, bytes.Equal(got, pt[r.First:r.Last+1]))
		}
		if cr := r.ContentRange(n); !strings.HasPrefix(cr, "bytes ") || !strings.HasSuffix(cr, "/"+itoa(n)) {
			t.Fatalf("Content-Range %q", cr)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
