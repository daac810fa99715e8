package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// failListS3 fails ListParts while fail is set.
type failListS3 struct {
	partsS3
	fail atomic.Bool
}

var errListFailed = errors.New("ListParts failed")

func (s *failListS3) ListParts(ctx context.Context, in *s3.ListPartsInput, optFns ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	if s.fail.Load() {
		return nil, errListFailed
	}
	return s.partsS3.ListParts(ctx, in, optFns...)
}

// A worker's token that opens (it is authentic: sealed by a holder of the
// data key) keeps its sums in the coordinator's upload even when the
// take-up is refused after it opened (here ListParts fails): the worker
// has sealed those parts, so the coordinator must not seal them with
// other bytes (one position of the message under two plaintexts), and
// does not; the same token taken up again once ListParts works brings the
// parts in, and the upload completes to the exact object. A token that
// does not open (altered) brings nothing in.
func TestAttackRefusedTakeUpKeepsWorkerSums(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	s := &failListS3{partsS3: e.plain}
	coord, err := encryptionclient.New(s, kr)
	if err != nil {
		t.Fatal(err)
	}
	d, tok := e.newDistributed(coord, "takeup-refused")
	back := d.worker(tok, 2, 3)

	// An altered token: refused, nothing of it kept (part 4 is free).
	altered := bytes.Clone(back)
	altered[len(altered)-1] ^= 1
	if _, err := coord.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: altered}); !errors.Is(err, encryptionclient.ErrInvalidResumeToken) {
		t.Fatalf("an altered token: %v", err)
	}

	s.fail.Store(true)
	if _, err := coord.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: back}); !errors.Is(err, errListFailed) {
		t.Fatalf("the take-up with ListParts failing: %v", err)
	}
	s.fail.Store(false)
	changed := bytes.Clone(d.part(2))
	changed[0] ^= 1
	if err := d.upload(coord, 2, changed); !errors.Is(err, encryptionclient.ErrPartConflict) {
		t.Fatalf("part 2, which the worker sealed, sent by the coordinator with other bytes: %v", err)
	}
	out, err := coord.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: back})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploaded) != 2 || out.Uploaded[0] != 2 || out.Uploaded[1] != 3 {
		t.Fatalf("taken up again: uploaded %v, want [2 3]", out.Uploaded)
	}
	for _, n := range []int32{1, 4, 5, 6, 7, resumeParts} {
		if err := d.upload(coord, n, d.part(n)); err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
	}
	if _, err := coord.CompleteMultipartUpload(d.ctx, &s3.CompleteMultipartUploadInput{Bucket: &e.bucket, Key: &d.key, UploadId: &d.id}); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(coord, kr, d.key, d.data)
}

// Calls that take the same token up at once, in a Client that does not
// hold its upload yet, all succeed: the ones that lose the race merge
// into the upload the first one took up (they failed with an untyped
// error before). Run with -race.
func TestAttackConcurrentTakeUpsMerge(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	coord := e.client(kr)
	d, tok := e.newDistributed(coord, "takeup-race")
	back := d.worker(tok, 1, 2, 3)
	for round := range 5 {
		c := e.client(kr)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.ResumeMultipartUpload(d.ctx, &encryptionclient.ResumeMultipartUploadInput{Token: back})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, call %d: %v", round, i, err)
			}
		}
		if round == 4 {
			for _, n := range []int32{4, 5, 6, 7, resumeParts} {
				if err := d.upload(c, n, d.part(n)); err != nil {
					t.Fatalf("part %d: %v", n, err)
				}
			}
			if _, err := c.CompleteMultipartUpload(d.ctx, &s3.CompleteMultipartUploadInput{Bucket: &e.bucket, Key: &d.key, UploadId: &d.id}); err != nil {
				t.Fatal(err)
			}
			e.mustStoreExactly(c, kr, d.key, d.data)
		}
	}
}
