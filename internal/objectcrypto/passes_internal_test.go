package objectcrypto

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// A rewindable body records one sum per segment, of the segment's
// ciphertext alone, and a body read once records none; Wipe clears them.
// Each recorded sum depends on every byte of its segment: a one-bit change
// anywhere gives another sum.
func TestPassesSums(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	const seg, size = 1024, 2*1024 + 100
	s, err := NewSealer(context.Background(), kr, envelope.Policy{}, nil, size)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	seal := func(p *Passes, d []byte) {
		t.Helper()
		for i := 0; i*seg < len(d); i++ {
			hi := min((i+1)*seg, len(d))
			if err := p.Seal(i, append([]byte(nil), d[i*seg:hi]...), hi == len(d)); err != nil {
				t.Fatal(err)
			}
		}
	}
	once, _ := s.Passes(seg, false)
	seal(once, data)
	if len(once.sums) != 0 {
		t.Fatalf("a body read once kept %d sums", len(once.sums))
	}
	p, _ := s.Passes(seg, true)
	seal(p, data)
	if len(p.sums) != 3 {
		t.Fatalf("%d sums for 3 segments", len(p.sums))
	}
	for i, sum := range p.sums {
		if sum.Offset() != int64(i*seg) || sum.Len() != int64(min(seg, size-i*seg)) {
			t.Fatalf("sum %d covers offset %d, %d bytes", i, sum.Offset(), sum.Len())
		}
	}
	for _, at := range []int{0, 15, 16, 500, 1023, 1024, 2*1024 + 99} {
		alt := append([]byte(nil), data...)
		alt[at] ^= 1
		q, _ := s.Passes(seg, true)
		seal(q, alt)
		if i := at / seg; q.sums[i].Equal(p.sums[i]) {
			t.Fatalf("the sum of segment %d missed a change at byte %d", i, at)
		}
		q.Wipe()
	}
	p.Wipe()
	if p.sums != nil || p.tag != [envelope.TagSize]byte{} {
		t.Fatal("Wipe left sums or the tag")
	}
}
