package encryptionclient_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// lyingLists answers ListObjectsV2 and ListObjectVersions with pages of
// its own making, as a hostile or broken server may, and passes every
// other call on. After maxCalls listings it answers an error, so that a
// client that would follow the lie forever fails the test instead of
// hanging it.
type lyingLists struct {
	*rwS3
	mu       sync.Mutex
	calls    int
	objects  func(n int, in *s3.ListObjectsV2Input) *s3.ListObjectsV2Output
	versions func(n int, in *s3.ListObjectVersionsInput) *s3.ListObjectVersionsOutput
}

const maxCalls = 5000

var errEndless = errors.New("test: the client kept listing")

func (l *lyingLists) count() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls > maxCalls {
		return l.calls, errEndless
	}
	return l.calls, nil
}

func (l *lyingLists) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if l.objects == nil {
		return l.rwS3.Client.ListObjectsV2(ctx, in, optFns...)
	}
	n, err := l.count()
	if err != nil {
		return nil, err
	}
	return l.objects(n, in), nil
}

func (l *lyingLists) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	if l.versions == nil {
		return l.rwS3.Client.ListObjectVersions(ctx, in, optFns...)
	}
	n, err := l.count()
	if err != nil {
		return nil, err
	}
	return l.versions(n, in), nil
}

func page(token string, keys ...string) *s3.ListObjectsV2Output {
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(token != "")}
	if token != "" {
		out.NextContinuationToken = aws.String(token)
	}
	for _, k := range keys {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k)})
	}
	return out
}

// RotatePrefix follows the server's listing only as long as it makes
// sense: a continuation token handed out again (the same page forever, or
// a cycle of several), truncated pages that list nothing without end, or a
// key outside the prefix are ErrBadResponse; the listing stops within a
// bounded number of requests and nothing outside the prefix is touched.
func TestAttackRotatePrefixListingLies(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	if err := e.put(e.client(kr), context.Background(), "p/a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := e.put(e.client(kr), context.Background(), "other", []byte("o")); err != nil {
		t.Fatal(err)
	}
	for name, lie := range map[string]func(n int, in *s3.ListObjectsV2Input) *s3.ListObjectsV2Output{
		"the same token again": func(int, *s3.ListObjectsV2Input) *s3.ListObjectsV2Output { return page("t", "p/a") },
		"a cycle of three tokens": func(n int, _ *s3.ListObjectsV2Input) *s3.ListObjectsV2Output {
			return page(fmt.Sprint("t", n%3), "p/a")
		},
		"empty truncated pages": func(n int, _ *s3.ListObjectsV2Input) *s3.ListObjectsV2Output {
			return page(fmt.Sprint("t", n))
		},
		"a key outside the prefix": func(int, *s3.ListObjectsV2Input) *s3.ListObjectsV2Output {
			return page("", "p/a", "other")
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := &lyingLists{rwS3: newRW(e), objects: lie}
			c, err := encryptionclient.New(h, kr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{
				Bucket: &e.bucket, Prefix: aws.String("p/"), Keyring: mustAES(t, nil), DryRun: true,
			})
			if n := h.n(); errors.Is(err, errEndless) || n > maxCalls {
				t.Fatalf("RotatePrefix kept listing (%d requests): %v", n, err)
			}
			mustErrorIs(t, err, encryptionclient.ErrBadResponse)
			if h.n() > 200 {
				t.Errorf("%d listing requests before the lie was found", h.n())
			}
			if h.nWrites() != 0 {
				t.Errorf("%d writes", h.nWrites())
			}
		})
	}
	// An honest listing still works through the same checks.
	h := &lyingLists{rwS3: newRW(e)}
	c, err := encryptionclient.New(h, kr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RotatePrefix(context.Background(), &encryptionclient.RotatePrefixInput{Bucket: &e.bucket, Prefix: aws.String("p/"), Keyring: mustAES(t, nil)})
	if err != nil || out.Rotated != 1 {
		t.Fatalf("honest listing: %+v, %v", out, err)
	}
}

// The search for the instruction file that belongs to an object (when the
// current one carries another binding) follows the server's version
// listing only while its markers move on, for a bounded number of pages:
// the same page again is ErrInstructionFileMismatch and ErrBadResponse,
// pages of nothing without end stop at the bound.
func TestAttackInstructionVersionSearchListingLies(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	instr := func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }
	if err := e.put(e.client(kr, instr), context.Background(), "obj", []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := e.put(e.client(kr, instr), context.Background(), "other", []byte("data")); err != nil {
		t.Fatal(err)
	}
	// obj's instruction file is replaced by other's: its binding differs,
	// so a read searches the versions of obj.instruction.
	body, meta, _ := e.raw("other.instruction")
	e.putRaw("obj.instruction", body, meta)
	for name, tc := range map[string]struct {
		lie    func(n int, in *s3.ListObjectVersionsInput) *s3.ListObjectVersionsOutput
		badRes bool
	}{
		"the same markers again": {func(int, *s3.ListObjectVersionsInput) *s3.ListObjectVersionsOutput {
			return &s3.ListObjectVersionsOutput{IsTruncated: aws.Bool(true), NextKeyMarker: aws.String("obj.instruction"), NextVersionIdMarker: aws.String("v1")}
		}, true},
		"no markers": {func(int, *s3.ListObjectVersionsInput) *s3.ListObjectVersionsOutput {
			return &s3.ListObjectVersionsOutput{IsTruncated: aws.Bool(true)}
		}, true},
		"new markers without end": {func(n int, _ *s3.ListObjectVersionsInput) *s3.ListObjectVersionsOutput {
			return &s3.ListObjectVersionsOutput{IsTruncated: aws.Bool(true), NextKeyMarker: aws.String("obj.instruction"), NextVersionIdMarker: aws.String(fmt.Sprint("v", n))}
		}, false},
	} {
		t.Run(name, func(t *testing.T) {
			h := &lyingLists{rwS3: newRW(e), versions: tc.lie}
			c, err := encryptionclient.New(h, kr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj")})
			if n := h.n(); errors.Is(err, errEndless) || n > maxCalls {
				t.Fatalf("the search kept listing (%d requests): %v", n, err)
			}
			mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
			if tc.badRes {
				mustErrorIs(t, err, encryptionclient.ErrBadResponse)
			}
			if h.n() > 100 {
				t.Errorf("%d listing requests", h.n())
			}
		})
	}
}

func (l *lyingLists) n() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}
