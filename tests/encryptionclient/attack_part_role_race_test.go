package encryptionclient_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

// gatedPartS3 holds the first UploadPart whose body has exactly hold bytes
// (a part sent without the tag) until release is closed: the request left
// the Client, and lands on S3 late.
type gatedPartS3 struct {
	*s3.Client
	hold    int64
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gatedPartS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	held := false
	if aws.ToInt64(in.ContentLength) == g.hold {
		g.once.Do(func() { held = true })
	}
	if held {
		close(g.entered)
		<-g.release
	}
	return g.Client.UploadPart(ctx, in, optFns...)
}

// TestAttackPartSentAsLastAndNotLastAtOnce: one part number sent
// twice at once with the same bytes, once declared the last part
// (WithLastPart) and once not. Sequentially the Client refuses the second
// ("this part was uploaded as the last part; re-send it with
// WithLastPart"). At once, both pass the order checks; the part sent
// without the tag reaches S3 after the one with it, and its answer, the
// ETag of the tagless ciphertext, replaces the last part's in the
// Client's record. CompleteMultipartUpload then succeeds with that ETag:
// the stored object has no tag, and no reader can open it. The rules say
// a broken rule gives a *PartError before anything is sent, never a
// silently corrupt object; a completion that succeeds must store an
// object that reads back.
func TestAttackPartSentAsLastAndNotLastAtOnce(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	ps := e.testPartSize()
	g := &gatedPartS3{Client: e.plain, hold: ps, entered: make(chan struct{}), release: make(chan struct{})}
	c, err := encryptionclient.New(g, kr)
	if err != nil {
		t.Fatal(err)
	}
	m := e.createMP(c, "mpu-last-and-not-last")
	defer m.abort()
	data := randBytes(t, int(ps)) // a full part: it may be the last or not

	var wg sync.WaitGroup
	var notLastErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, notLastErr = m.part(1, data, false)
	}()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the part sent without WithLastPart never reached the S3 client")
	}
	_, lastErr := m.part(1, data, true)
	close(g.release)
	wg.Wait()
	t.Logf("part 1 as last: %v; part 1 not last: %v", lastErr, notLastErr)

	out, err := m.complete(nil)
	if err != nil {
		// Refused: the rule was enforced (the ETag of the part S3 holds
		// now is not the one the last part's record names).
		t.Logf("completion refused: %v", err)
		return
	}
	got, rerr := e.get(c, context.Background(), m.key)
	raw, _, _ := e.raw(m.key)
	if rerr != nil {
		t.Fatalf("CompleteMultipartUpload succeeded (ETag %s) with a part number uploaded at once as the last part and not: the stored object (%d bytes for %d of plaintext) does not read: %v (ErrAuthentication %v)",
			aws.ToString(out.ETag), len(raw), len(data), rerr, errors.Is(rerr, encryptionclient.ErrAuthentication))
	}
	if string(got) != string(data) {
		t.Fatalf("the stored object reads as %d other bytes", len(got))
	}
}
