package encryptionclient_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// A body's Close may abort a Read running on another goroutine, as with an
// HTTP body, in every mode: the Read returns (bytes of this object, or an
// error), never another object's bytes, and the race detector sees no
// buffer shared between the aborted read and the GETs that reuse the
// pools (the read-ahead buffers of streamed bodies, the in-memory and
// spool buffers of authenticated ones). Run with -race.
func TestAttackCloseRacingRead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const size = 5 << 20 // over two read-ahead buffers: streamed bodies read ahead
	data := putLarge(t, e, "big", size)
	modes := map[string]func(*encryptionclient.Options){
		"delayed authentication": func(o *encryptionclient.Options) { o.EnableDelayedAuthentication = true },
		"in memory":              func(*encryptionclient.Options) {},
		"spool": func(o *encryptionclient.Options) {
			o.BufferSize, o.SpoolLargeObjects, o.SpoolDir = 1<<20, true, t.TempDir()
		},
	}
	for name, opt := range modes {
		t.Run(name, func(t *testing.T) {
			c := e.client(e.krs["aes"], opt)
			for round := range 6 {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				wg.Add(1)
				var got []byte
				var rerr error
				go func() {
					defer wg.Done()
					buf := make([]byte, 777)
					for {
						n, err := out.Body.Read(buf)
						got = append(got, buf[:n]...)
						if err != nil {
							rerr = err
							return
						}
					}
				}()
				time.Sleep(time.Duration(round) * time.Millisecond)
				out.Body.Close()
				// Other GETs take the buffers the closed body gave back
				// while its Read may still run.
				for range 2 {
					o2, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")})
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, o2.Body)
					o2.Body.Close()
				}
				wg.Wait()
				if rerr == io.EOF {
					if len(got) != size {
						t.Fatalf("round %d: io.EOF after %d bytes of %d", round, len(got), size)
					}
				} else if rerr == nil {
					t.Fatalf("round %d: no error", round)
				}
				if len(got) > size || string(got) != string(data[:len(got)]) {
					t.Fatalf("round %d: the aborted Read returned %d bytes that are not the object's first (%v)", round, len(got), rerr)
				}
				if errors.Is(rerr, encryptionclient.ErrAuthentication) {
					t.Fatalf("round %d: Close reported as tampering: %v", round, rerr)
				}
			}
		})
	}
}
