package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/internal/testkit/testvectors"
	"github.com/s3ec/s3ec-go/materials"
)

// Ranged GetObject of legacy AES-CBC objects (AWS's RangedGetTests with
// legacy modes): behind both opt-ins, any range, from the block before it.

func cbcRangeOpts(o *encryptionclient.Options) {
	o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
	o.EnableLegacyUnauthenticatedModes = true
	o.EnableUnauthenticatedRanges = true
}

// wantRange is the expected answer to header for a plaintext of size
// bytes, computed here independently of the library: ok false when it
// cannot be satisfied.
func wantRange(header string, size int64) (first, last int64, ok bool) {
	var a, b int64
	if n, _ := fmt.Sscanf(header, "bytes=-%d", &b); n == 1 {
		if b == 0 || size == 0 {
			return 0, 0, false
		}
		return max(size-b, 0), size - 1, true
	}
	n, _ := fmt.Sscanf(header, "bytes=%d-%d", &a, &b)
	switch n {
	case 1:
		b = size - 1
	case 2:
		b = min(b, size-1)
	default:
		panic(header)
	}
	if a >= size {
		return 0, 0, false
	}
	return a, b, true
}

// cbcCase is one stored CBC object and its plaintext.
type cbcCase struct {
	name, key string
	pt        []byte
	kr        materials.Keyring
}

// checkRanges reads the ranges of c.key and compares each with the
// plaintext.
func checkRanges(t *testing.T, e *env, cl *encryptionclient.Client, cc cbcCase, ranges []string) {
	t.Helper()
	size := int64(len(cc.pt))
	for _, h := range ranges {
		out, err := cl.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(cc.key), Range: aws.String(h)})
		first, last, ok := wantRange(h, size)
		if !ok {
			var re *envelope.RangeError
			if err == nil {
				out.Body.Close()
			}
			if !errors.As(err, &re) {
				t.Fatalf("%s %s (%d bytes): error %v, want a RangeError", cc.name, h, size, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %s (%d bytes): %v", cc.name, h, size, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatalf("%s %s (%d bytes): read: %v", cc.name, h, size, err)
		}
		if !bytes.Equal(got, cc.pt[first:last+1]) {
			t.Fatalf("%s %s (%d bytes): got %d bytes, not plaintext[%d:%d]", cc.name, h, size, len(got), first, last+1)
		}
		if aws.ToInt64(out.ContentLength) != last-first+1 || aws.ToString(out.ContentRange) != fmt.Sprintf("bytes %d-%d/%d", first, last, size) {
			t.Fatalf("%s %s: ContentLength %v ContentRange %q", cc.name, h, aws.ToInt64(out.ContentLength), aws.ToString(out.ContentRange))
		}
	}
}

// rangesFor is the fixed cases (start, end, middle, whole, suffix, open,
// beyond the end, the last two blocks) and many random ranges.
func rangesFor(rng *rand.Rand, size int64) []string {
	r := []string{
		"bytes=0-0", "bytes=0-15", "bytes=0-16", "bytes=0-", "bytes=-1", "bytes=-16", "bytes=-17",
		fmt.Sprintf("bytes=-%d", size+5), fmt.Sprintf("bytes=%d-", size), fmt.Sprintf("bytes=%d-%d", size, size+10),
		fmt.Sprintf("bytes=0-%d", size+100), fmt.Sprintf("bytes=%d-", max(size-1, 0)), "bytes=-0",
	}
	if size > 0 {
		r = append(r, fmt.Sprintf("bytes=%d-%d", size/3, 2*size/3), fmt.Sprintf("bytes=0-%d", size-1),
			fmt.Sprintf("bytes=%d-", size/16*16))
	}
	if size >= 2 {
		r = append(r, fmt.Sprintf("bytes=%d-%d", max(size-17, 0), size-2))
	}
	for range 25 {
		if size == 0 {
			break
		}
		a := rng.Int64N(size)
		b := a + rng.Int64N(size-a)
		switch rng.IntN(4) {
		case 0:
			r = append(r, fmt.Sprintf("bytes=%d-", a))
		case 1:
			r = append(r, fmt.Sprintf("bytes=-%d", 1+rng.Int64N(size)))
		default:
			r = append(r, fmt.Sprintf("bytes=%d-%d", a, b))
		}
	}
	return r
}

// putCBCVectors stores the AWS-written CBC vectors (metadata and
// instruction-file ones) and returns them.
func putCBCVectors(t *testing.T, e *env, dropLength bool) []cbcCase {
	t.Helper()
	vs, err := testvectors.Load(filepath.Join(testvectors.Dir(), "sdkv1-v1client-cbc"))
	if err != nil {
		t.Fatal(err)
	}
	var out []cbcCase
	for _, v := range vs {
		if v.Negative() {
			continue
		}
		ct, err := v.Ciphertext()
		if err != nil {
			t.Fatal(err)
		}
		pt, err := v.Plaintext()
		if err != nil {
			t.Fatal(err)
		}
		dk, err := base64.StdEncoding.DecodeString(v.KMS[0].PlaintextKeyB64)
		if err != nil {
			t.Fatal(err)
		}
		meta := maps.Clone(v.Metadata)
		if dropLength {
			delete(meta, "x-amz-unencrypted-content-length")
		}
		key := v.Name
		e.putRaw(key, ct, meta)
		if v.InstructionFile != nil {
			body := v.InstructionFile.Body
			if dropLength {
				body = dropJSONLength(t, body)
			}
			e.putRaw(key+".instruction", []byte(body), v.InstructionFile.Metadata)
		}
		out = append(out, cbcCase{name: v.Name, key: key, pt: pt, kr: vectorKeyring{key: dk}})
	}
	if len(out) < 10 {
		t.Fatalf("only %d CBC vectors", len(out))
	}
	return out
}

func dropJSONLength(t *testing.T, body string) string {
	t.Helper()
	m, err := envelope.ParseDescription(body)
	if err != nil {
		t.Fatal(err)
	}
	delete(m, "x-amz-unencrypted-content-length")
	return envelope.RenderDescription(m)
}

// cbcEncrypt pads and encrypts pt as the legacy clients do.
func cbcEncrypt(key, iv, pt []byte) []byte {
	block, _ := aes.NewCipher(key)
	pad := 16 - len(pt)%16
	ct := append(bytes.Clone(pt), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	return ct
}

// putBuiltCBC stores a V2 CBC object of pt (x-amz-unencrypted-content-length
// only when withLength) and returns its keyring.
func putBuiltCBC(t *testing.T, e *env, key string, pt []byte, withLength bool) (materials.Keyring, []byte, map[string]string) {
	t.Helper()
	dk, iv := randBytes(t, 32), randBytes(t, 16)
	ct := cbcEncrypt(dk, iv, pt)
	meta := map[string]string{
		"x-amz-key-v2": base64.StdEncoding.EncodeToString(randBytes(t, 40)), "x-amz-iv": base64.StdEncoding.EncodeToString(iv),
		"x-amz-matdesc": "{}", "x-amz-wrap-alg": "kms", "x-amz-cek-alg": "AES/CBC/PKCS5Padding",
	}
	if withLength {
		meta["x-amz-unencrypted-content-length"] = strconv.Itoa(len(pt))
	}
	e.putRaw(key, ct, meta)
	if withLength {
		requireStoredMetadata(t, e, key, "x-amz-unencrypted-content-length")
	}
	return vectorKeyring{key: dk}, ct, meta
}

func TestRangedGetLegacyCBCVectors(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, drop := range []bool{false, true} {
		for _, cc := range putCBCVectors(t, e, drop) {
			cc.name = fmt.Sprintf("%s (length recorded: %v)", cc.name, !drop)
			checkRanges(t, e, e.client(cc.kr, cbcRangeOpts), cc, rangesFor(rng, int64(len(cc.pt))))
		}
	}
}

func TestRangedGetLegacyCBCBuilt(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 100, 4095, 4096, 70001} {
		for _, withLength := range []bool{true, false} {
			pt := randBytes(t, n)
			key := fmt.Sprintf("built-%d-%v", n, withLength)
			kr, _, _ := putBuiltCBC(t, e, key, pt, withLength)
			checkRanges(t, e, e.client(kr, cbcRangeOpts), cbcCase{name: key, key: key, pt: pt}, rangesFor(rng, int64(n)))
		}
	}
}

// Both opt-ins are required; a range of a CBC object was ErrPolicy
// whatever the options.
func TestRangedGetLegacyCBCOptIns(t *testing.T) {
	e := newEnv(t)
	pt := randBytes(t, 100)
	kr, _, _ := putBuiltCBC(t, e, "cbc", pt, true)
	in := &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("cbc"), Range: aws.String("bytes=10-20")}
	for name, opt := range map[string]func(*encryptionclient.Options){
		"no ranges": func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
			o.EnableLegacyUnauthenticatedModes = true
		},
		"no legacy": func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
			o.EnableUnauthenticatedRanges = true
		},
	} {
		_, err := e.client(kr, opt).GetObject(context.Background(), in)
		if !errors.Is(err, encryptionclient.ErrPolicy) {
			t.Fatalf("%s: %v, want ErrPolicy", name, err)
		}
	}
	checkRanges(t, e, e.client(kr, cbcRangeOpts), cbcCase{name: "cbc", key: "cbc", pt: pt}, []string{"bytes=10-20"})
}

// The padding is checked whenever a range reaches the end; a range that
// does not reach it never reads the last block. A recorded length that
// the padding contradicts fails a range that ends the object.
func TestRangedGetLegacyCBCPaddingAndLength(t *testing.T) {
	e := newEnv(t)
	pt := randBytes(t, 100) // 7 blocks, 12 bytes of padding
	kr, ct, meta := putBuiltCBC(t, e, "cbc", pt, true)
	bad := bytes.Clone(ct)
	bad[len(bad)-17] ^= 0x01 // the last byte of the last block's IV: its padding byte
	e.putRaw("badpad", bad, meta)
	delete(meta, "x-amz-unencrypted-content-length")
	e.putRaw("badpad-nolen", bad, maps.Clone(meta))
	c := e.client(kr, cbcRangeOpts)
	get := func(key, r string) ([]byte, error) {
		return readAll(context.Background(), c, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key), Range: aws.String(r)})
	}
	for _, r := range []string{"bytes=90-99", "bytes=-5", "bytes=50-", "bytes=0-1000"} {
		if _, err := get("badpad", r); !errors.Is(err, encryptionclient.ErrInvalidCiphertext) {
			t.Fatalf("badpad %s: %v, want ErrInvalidCiphertext", r, err)
		}
		if _, err := get("badpad-nolen", r); !errors.Is(err, encryptionclient.ErrInvalidCiphertext) {
			t.Fatalf("badpad-nolen %s: %v, want ErrInvalidCiphertext", r, err)
		}
	}
	// Blocks 0-4 do not depend on the last block (block 5 is its IV and
	// decrypts; only block 6 holds padding).
	if got, err := get("badpad", "bytes=0-79"); err != nil || !bytes.Equal(got, pt[:80]) {
		t.Fatalf("a range away from the padding: %v", err)
	}
	// A recorded length in the right block count but not the padding's.
	for _, lie := range []int{97, 99, 96} {
		m := maps.Clone(meta)
		m["x-amz-unencrypted-content-length"] = strconv.Itoa(lie)
		e.putRaw("lie", ct, m)
		_, err := get("lie", "bytes=90-")
		if !errors.Is(err, encryptionclient.ErrMalformed) {
			t.Fatalf("recorded length %d: %v, want ErrMalformed", lie, err)
		}
		if lie < 100 {
			if got, err := get("lie", "bytes=0-9"); err != nil || !bytes.Equal(got, pt[:10]) {
				t.Fatalf("recorded length %d, a range away from the end: %v", lie, err)
			}
		}
	}
}

// The server's answers to every ranged GET of a CBC read (the range, and
// the last-block read when the length is not recorded) are checked as for
// GCM ranges.
func TestLyingRangedGetLegacyCBC(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	pt := randBytes(t, 5000)
	for _, withLength := range []bool{true, false} {
		kr, ct, _ := putBuiltCBC(t, e.env, "cbc", pt, withLength)
		c := e.lyingClient(kr, cbcRangeOpts)
		ranged := s3test.And(s3test.Get("cbc"), s3test.Ranged)
		cases := []struct {
			name string
			nth  int
			lies []s3test.Lie
			want error
		}{
			{"200 with the whole body", 0, []s3test.Lie{s3test.Status(200), s3test.DelHeader("Content-Range"), s3test.ReplaceBody(ct), s3test.SetHeader("Content-Length", strconv.Itoa(len(ct)))}, encryptionclient.ErrBadResponse},
			{"206 of another range", 0, []s3test.Lie{s3test.ReplaceBody(ct[:96]), s3test.SetHeader("Content-Range", fmt.Sprintf("bytes 0-95/%d", len(ct)))}, encryptionclient.ErrBadResponse},
			{"206 with another total", 0, []s3test.Lie{s3test.SetHeader("Content-Range", "bytes 976-1103/99999")}, encryptionclient.ErrBadResponse},
			{"206 without Content-Range", 0, []s3test.Lie{s3test.DelHeader("Content-Range")}, encryptionclient.ErrBadResponse},
			{"short 206", 0, []s3test.Lie{s3test.ShortBody(10)}, encryptionclient.ErrTruncated},
			{"cut 206", 0, []s3test.Lie{s3test.CutBody(10)}, encryptionclient.ErrTruncated},
			{"long 206", 0, []s3test.Lie{s3test.LongBody(make([]byte, 50))}, encryptionclient.ErrTooLarge},
		}
		for _, tc := range cases {
			for _, r := range []string{"bytes=1000-1099", "bytes=-10"} {
				e.liar.Reset()
				e.liar.On(ranged, tc.nth, tc.lies...)
				in := e.in("cbc")
				in.Range = aws.String(r)
				got, err := readAll(ctx, c, in)
				if !errors.Is(err, tc.want) {
					t.Errorf("length %v, %s, %s: %d bytes, error %v, want %v", withLength, tc.name, r, len(got), err, tc.want)
				}
			}
		}
		e.liar.Reset()
		in := e.in("cbc")
		in.Range = aws.String("bytes=1000-1099")
		if got, err := readAll(ctx, c, in); err != nil || !bytes.Equal(got, pt[1000:1100]) {
			t.Fatalf("honest: %v", err)
		}
	}
}
