package objectcrypto_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
	"github.com/s3ec/s3ec-go/materials"
)

// resumeFixture seals the first parts of a message, then seals a token.
type resumeFixture struct {
	kr       materials.Keyring
	sealer   *objectcrypto.Sealer
	pt       []byte
	partSize int
	header   []byte
	token    []byte
	ct       []byte // the ciphertext of the parts sealed before the token
}

func newResumeFixture(t *testing.T, before int) *resumeFixture {
	t.Helper()
	kr := partsKeyring(t)
	pt := make([]byte, 5*4096+100)
	rand.Read(pt)
	s, err := objectcrypto.NewResumableSealer(context.Background(), kr, envelope.Policy{}, nil, int64(len(pt)))
	if err != nil {
		t.Fatal(err)
	}
	f := &resumeFixture{kr: kr, sealer: s, pt: pt, partSize: 4096, header: []byte("bucket/key/upload")}
	ps := s.Parts()
	f.ct = bytes.Clone(pt[:before*f.partSize])
	for i := range before {
		if err := ps.Seal(i+1, int64(i*f.partSize), f.ct[i*f.partSize:(i+1)*f.partSize]); err != nil {
			t.Fatal(err)
		}
	}
	if f.token, err = ps.SealToken(f.header, []byte("app bytes")); err != nil {
		t.Fatal(err)
	}
	return f
}

// A message whose first parts were sealed by one Parts and the rest by
// another, opened from the first one's token with only the keyring and the
// envelope, has the ciphertext and tag of a message sealed in one go.
func TestResumeTokenContinuesTheMessage(t *testing.T) {
	f := newResumeFixture(t, 3)
	ps, err := objectcrypto.OpenResumable(context.Background(), f.kr, objectcrypto.DecryptOptions{}, f.sealer.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	app, err := ps.OpenToken(f.header, f.token)
	if err != nil {
		t.Fatal(err)
	}
	if string(app) != "app bytes" {
		t.Fatalf("app bytes %q", app)
	}
	if got := ps.Recorded(); len(got) != 3 || got[2] != (objectcrypto.PartInfo{Num: 3, Offset: 2 * 4096, Len: 4096}) {
		t.Fatalf("recorded %+v", got)
	}
	ct := append(bytes.Clone(f.ct), f.pt[len(f.ct):]...)
	last := (len(f.pt) + f.partSize - 1) / f.partSize
	for num := 4; num <= last; num++ {
		off := (num - 1) * f.partSize
		end := min(off+f.partSize, len(f.pt))
		if err := ps.Seal(num, int64(off), ct[off:end]); err != nil {
			t.Fatal(err)
		}
	}
	tag, err := ps.Tag(context.Background(), last)
	if err != nil {
		t.Fatal(err)
	}
	o, err := objectcrypto.Open(context.Background(), f.kr, objectcrypto.DecryptOptions{}, f.sealer.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.ReadVerified(io.MultiReader(bytes.NewReader(ct), bytes.NewReader(tag[:])), 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, f.pt) {
		t.Fatal("the resumed message does not decrypt to the plaintext")
	}
	// A part re-sealed from the token's record with other bytes is a
	// conflict: the recorded sums guard positions across processes.
	changed := bytes.Clone(f.pt[:f.partSize])
	changed[7] ^= 1
	if err := ps.Seal(1, 0, changed); !errors.Is(err, objectcrypto.ErrPartConflict) {
		t.Fatalf("part 1 re-sealed with other bytes: %v", err)
	}
}

// A token with any byte flipped, opened with another header, or under
// another message's key does not open, and leaves the Parts unchanged.
func TestResumeTokenRefusesTampering(t *testing.T) {
	f := newResumeFixture(t, 2)
	open := func(header, token []byte) error {
		ps, err := objectcrypto.OpenResumable(context.Background(), f.kr, objectcrypto.DecryptOptions{}, f.sealer.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ps.OpenToken(header, token)
		if err != nil && len(ps.Recorded()) != 0 {
			t.Fatal("a refused token left sums behind")
		}
		return err
	}
	for i := range f.token {
		bad := bytes.Clone(f.token)
		bad[i] ^= 0x40
		if err := open(f.header, bad); !errors.Is(err, objectcrypto.ErrTokenAuthentication) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if err := open([]byte("bucket/key/other"), f.token); !errors.Is(err, objectcrypto.ErrTokenAuthentication) {
		t.Fatalf("another header: %v", err)
	}
	if err := open(f.header, f.token[:len(f.token)-1]); !errors.Is(err, objectcrypto.ErrTokenAuthentication) {
		t.Fatalf("truncated: %v", err)
	}
	other := newResumeFixture(t, 2)
	ps, err := objectcrypto.OpenResumable(context.Background(), other.kr, objectcrypto.DecryptOptions{}, other.sealer.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.OpenToken(f.header, f.token); !errors.Is(err, objectcrypto.ErrTokenAuthentication) {
		t.Fatalf("another message's key: %v", err)
	}
	// Without the keyring that wraps the data key, no token key at all.
	if _, err := objectcrypto.OpenResumable(context.Background(), partsKeyring(t), objectcrypto.DecryptOptions{}, f.sealer.Envelope); !errors.Is(err, materials.ErrUnwrap) {
		t.Fatalf("another keyring: %v", err)
	}
}

// A token whose sum of a part differs from the one a Parts holds is a
// conflict, refused as a whole; a plain Sealer seals no tokens.
func TestResumeTokenMergeConflict(t *testing.T) {
	f := newResumeFixture(t, 2)
	ps := f.sealer.Parts() // the same message, a new collector
	changed := bytes.Clone(f.pt[:f.partSize])
	changed[0] ^= 1
	if err := ps.Seal(1, 0, changed); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.OpenToken(f.header, f.token); !errors.Is(err, objectcrypto.ErrPartConflict) {
		t.Fatalf("conflicting part 1: %v", err)
	}
	if got := ps.Recorded(); len(got) != 1 {
		t.Fatalf("a refused token merged parts: %+v", got)
	}
	plain, err := objectcrypto.NewSealer(context.Background(), f.kr, envelope.Policy{}, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Parts().SealToken(nil, nil); !errors.Is(err, objectcrypto.ErrNotResumable) {
		t.Fatalf("SealToken of a plain sealer: %v", err)
	}
}
