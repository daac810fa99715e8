package encryptionclient_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Authenticated in-memory GETs share pooled buffers. Concurrent GETs of
// objects of one size class, some bodies read to the end, some closed from
// another goroutine mid-read, some dropped unclosed, each return exactly
// their own object's bytes: a buffer still held by a live body is never
// handed to another (run with -race).
func TestBufferPoolConcurrentGets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(e.krs["aes"])
	const objects = 4
	data := make([][]byte, objects)
	for i := range objects {
		data[i] = bytes.Repeat([]byte{byte('a' + i)}, 2<<20+i*4096)
		if err := e.put(c, ctx, fmt.Sprintf("pool/%d", i), data[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range objects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 6 {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(fmt.Sprintf("pool/%d", i))})
				if err != nil {
					t.Error(err)
					return
				}
				switch round % 3 {
				case 0: // to the end
					got, err := io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil || !bytes.Equal(got, data[i]) {
						t.Errorf("object %d: %d bytes, %v", i, len(got), err)
					}
				case 1: // closed by another goroutine while read
					done := make(chan struct{})
					go func() { defer close(done); out.Body.Close() }()
					p := make([]byte, 32<<10)
					for {
						k, err := out.Body.Read(p)
						if bytes.IndexFunc(p[:k], func(r rune) bool { return r != rune('a'+i) }) >= 0 {
							t.Errorf("object %d: bytes of another object", i)
						}
						if err != nil {
							break
						}
					}
					<-done
				case 2: // dropped after a few bytes, never closed
					p := make([]byte, 1000)
					if _, err := io.ReadFull(out.Body, p); err != nil || !bytes.Equal(p, data[i][:1000]) {
						t.Errorf("object %d: first bytes %v", i, err)
					}
				}
			}
		}()
	}
	wg.Wait()
}
