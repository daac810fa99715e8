package gcmstream

import (
	"bytes"
	"testing"
)

// PartSum.Equal tells a re-sent part with the same bytes from one with other
// bytes, another offset or another message.
func TestPartSumEqual(t *testing.T) {
	key, nonce := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 12)
	c, err := New(key, nonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(key, bytes.Repeat([]byte{8}, 12), nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(c *Cipher, offset int64, data []byte) PartSum {
		p, err := c.Part(offset)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, len(data))
		p.Encrypt(out, data)
		return p.Sum()
	}
	data := bytes.Repeat([]byte("part"), 1000)
	changed := bytes.Clone(data)
	changed[1234] ^= 1
	base := sum(c, 4096, data)
	if !base.Equal(sum(c, 4096, data)) {
		t.Fatal("the same bytes at the same offset are not Equal")
	}
	for name, s := range map[string]PartSum{
		"other bytes":   sum(c, 4096, changed),
		"other offset":  sum(c, 8192, data),
		"shorter":       sum(c, 4096, data[:len(data)-1]),
		"other message": sum(other, 4096, data),
	} {
		if base.Equal(s) {
			t.Errorf("%s: Equal", name)
		}
	}
}
