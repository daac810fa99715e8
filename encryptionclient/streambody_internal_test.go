package encryptionclient

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

// streamedObject seals size random bytes and returns the ciphertext‖tag
// and an opener for it.
func streamedObject(t *testing.T, size int) ([]byte, *objectcrypto.Opener) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAESKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	pt := make([]byte, size)
	rand.Read(pt)
	s, err := objectcrypto.NewSealer(context.Background(), kr, envelope.Policy{}, nil, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(s.Reader(bytes.NewReader(pt)))
	if err != nil {
		t.Fatal(err)
	}
	op, err := objectcrypto.Open(context.Background(), kr, objectcrypto.DecryptOptions{}, s.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return ct, op
}

// A streamed body that is closed before its end closes its decrypting
// reader, which wipes the plaintext it still holds and gives its buffer
// back: reads of that reader fail afterwards, and so do the body's.
func TestStreamBodyCloseClosesDecrypter(t *testing.T) {
	ct, op := streamedObject(t, 3<<20+5)
	r, err := op.UnverifiedReader(bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	b := &streamBody{r: r, src: io.NopCloser(nil), op: op}
	// Small reads leave decrypted plaintext waiting in the reader's buffer.
	if _, err := io.ReadFull(b, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Fatalf("the decrypting reader still reads after the body's Close: %d, %v", n, err)
	}
	if n, err := b.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errReadAfterClose) {
		t.Fatalf("read after Close: %d, %v; want errReadAfterClose", n, err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Close from another goroutine while a Read waits for the network (as an
// HTTP body allows) ends that Read and closes the decrypter after it:
// run with -race.
func TestStreamBodyCloseDuringRead(t *testing.T) {
	ct, op := streamedObject(t, 1<<20)
	pr, pw := io.Pipe()
	r, err := op.UnverifiedReader(pr)
	if err != nil {
		t.Fatal(err)
	}
	b := &streamBody{r: r, src: pr, op: op}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, b)
		done <- err
	}()
	// Half the body arrives; the reader then waits for the rest.
	if _, err := pw.Write(ct[:len(ct)/2]); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("a read cut by Close ended without an error")
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Fatalf("the decrypting reader still reads after Close: %d, %v", n, err)
	}
}
