package objectcrypto

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// Two bodies draw independent MAC keys; a body's MAC depends on every
// byte of the segment and on its length.
func TestSegmentMAC(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(context.Background(), kr, envelope.Policy{}, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Passes(1024, true)
	b, _ := s.Passes(1024, true)
	seg := make([]byte, 1000)
	ma, _ := a.mac(seg)
	mb, _ := b.mac(seg)
	if ma == mb {
		t.Fatal("two bodies share a MAC key")
	}
	if again, _ := a.mac(seg); again != ma {
		t.Fatal("the MAC is not a function of the segment")
	}
	if shorter, _ := a.mac(seg[:999]); shorter == ma {
		t.Fatal("the MAC missed a shorter segment of zeros")
	}
	for _, i := range []int{0, 15, 16, 500, 999} {
		seg[i] ^= 1
		if m, _ := a.mac(seg); m == ma {
			t.Fatalf("the MAC missed a change at byte %d", i)
		}
		seg[i] ^= 1
	}
}
