package gcmstream

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"testing"
)

// A sum written with AppendAccumulator and read back with RestoreSum gives
// the same tag as the original, equals it, and RestoreSum refuses values
// that do not fit in the message.
func TestRestoreSum(t *testing.T) {
	key, nonce := bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{5}, 12)
	c, err := New(key, nonce, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("resumable"), 7000)
	split := int64(16 * 1500)
	var sums []PartSum
	ct := make([]byte, len(msg))
	for _, r := range [][2]int64{{0, split}, {split, int64(len(msg))}} {
		p, err := c.Part(r[0])
		if err != nil {
			t.Fatal(err)
		}
		p.Encrypt(ct[r[0]:r[1]], msg[r[0]:r[1]])
		sums = append(sums, p.Sum())
	}
	var restored []PartSum
	for _, s := range sums {
		acc := s.AppendAccumulator(nil)
		if len(acc) != AccumulatorSize {
			t.Fatalf("accumulator of %d bytes", len(acc))
		}
		r, err := c.RestoreSum(s.Offset(), s.Len(), acc)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Equal(s) {
			t.Fatal("restored sum differs from the original")
		}
		restored = append(restored, r)
	}
	tag, err := c.Tag(restored...)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(block)
	want := g.Seal(nil, nonce, msg, []byte("aad"))
	if !bytes.Equal(want[:len(msg)], ct) || !bytes.Equal(want[len(msg):], tag[:]) {
		t.Fatal("the tag from restored sums differs from crypto/cipher's")
	}
	acc := sums[0].AppendAccumulator(nil)
	for name, f := range map[string]func() error{
		"short accumulator": func() error { _, err := c.RestoreSum(0, 16, acc[:15]); return err },
		"unaligned offset":  func() error { _, err := c.RestoreSum(8, 16, acc); return err },
		"negative length":   func() error { _, err := c.RestoreSum(0, -1, acc); return err },
		"beyond the limit":  func() error { _, err := c.RestoreSum(MaxPlaintextSize-16, 32, acc); return err },
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
