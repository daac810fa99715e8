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

// errWithLast returns its data and, with the last bytes, err.
type errWithLast struct {
	data []byte
	err  error
}

func (r *errWithLast) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, r.err
	}
	return n, nil
}

// An error of the plaintext source, even one that comes with its last
// bytes, is returned by the sealer's reader, and the tag is never
// produced: nothing can authenticate a body whose source failed.
func TestSealerReturnsSourceErrorWithoutTag(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("source broke")
	for _, n := range []int{1, 1000, 64 << 10, 256 << 10, 256<<10 + 5} {
		for _, readSize := range []int{4 << 10, 1 << 20} {
			s, err := objectcrypto.NewSealer(context.Background(), kr, envelope.Policy{}, nil, int64(n))
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, n)
			rand.Read(data)
			var out bytes.Buffer
			_, err = io.CopyBuffer(&out, struct{ io.Reader }{s.Reader(&errWithLast{data: data, err: boom})}, make([]byte, readSize))
			if !errors.Is(err, boom) {
				t.Fatalf("%d bytes, reads of %d: %v, want the source's error", n, readSize, err)
			}
			if out.Len() > n {
				t.Fatalf("%d bytes, reads of %d: %d bytes out, the tag was released", n, readSize, out.Len())
			}
		}
	}
}
