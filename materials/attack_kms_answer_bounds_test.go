package materials_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/answerlimit"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/materials"
)

// kmsAnswers is the transport of a real SDK KMS client in front of the KMS
// test server: it forwards every request, and then either answers with a
// body of its own (status and size, the bytes made as they are read) or
// pads the honest answer's JSON with spaces to pad bytes.
type kmsAnswers struct {
	mu      sync.Mutex
	status  int   // with size: the lie's status
	size    int64 // > 0: answer a body of this many bytes
	pad     int   // > 0: the honest answer, padded to this many bytes
	answers int   // requests answered
}

// repeat yields b without end.
type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func (a *kmsAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answers++
	switch {
	case a.size > 0:
		resp.Body.Close()
		head := `{"CiphertextBlob":"`
		if a.status != http.StatusOK {
			head = `{"__type":"KMSInternalException","message":"`
		}
		resp.StatusCode, resp.Status = a.status, strconv.Itoa(a.status)+" "+http.StatusText(a.status)
		resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(head), io.LimitReader(repeat('A'), a.size-int64(len(head))-2), strings.NewReader(`"}`)))
		resp.ContentLength = a.size
		resp.Header.Set("Content-Length", strconv.FormatInt(a.size, 10))
	case a.pad > 0:
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if n := a.pad - len(b); n > 0 && len(b) > 0 && b[0] == '{' {
			b = append(append([]byte("{"), bytes.Repeat([]byte(" "), n)...), b[1:]...)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	}
	return resp, nil
}

func (a *kmsAnswers) set(status int, size int64, pad int) {
	a.mu.Lock()
	a.status, a.size, a.pad, a.answers = status, size, pad, 0
	a.mu.Unlock()
}

func (a *kmsAnswers) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.answers
}

// allocDuring returns the bytes allocated while f ran.
func allocDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A lying KMS endpoint that answers GenerateDataKey, Encrypt, ReEncrypt
// or Decrypt with a 32 MiB body, as a success or as a 5xx error, makes the
// keyrings read at most 64 KiB of it: the call fails at once with an error
// that says the answer is too large, the SDK's retryer does not try again
// (a 5xx would be retried), and the allocation stays small. Honest answers
// padded to just under the bound still work; one byte past it fails.
func TestAttackKMSAnswerBodiesBounded(t *testing.T) {
	const size = 32 << 20
	const most = 8 << 20
	srv := kmstest.New(t)
	arn := srv.KeyARN(srv.CreateKey())
	other := srv.KeyARN(srv.CreateKey())
	tr := &kmsAnswers{}
	client := srv.Client(func(o *kms.Options) {
		o.HTTPClient = &http.Client{Transport: tr}
		o.RetryMaxAttempts = 3
	})
	kr := newKMSKeyringForTest(t, client, arn)
	dest := newKMSKeyringForTest(t, client, other)
	disc := newKMSDiscoveryForTest(t, client)
	ctx := context.Background()
	s := envelope.SuiteAESGCMCommitting
	dk, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: s})
	if err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		name string
		f    func() error
	}{
		{"GenerateDataKey", func() error {
			_, err := kr.GenerateDataKey(ctx, &materials.EncryptionRequest{Suite: s})
			return err
		}},
		{"Encrypt", func() error {
			_, err := kr.WrapDataKey(ctx, &materials.WrapRequest{Suite: s, Plaintext: dk.Plaintext})
			return err
		}},
		{"ReEncrypt", func() error {
			_, err := dest.ReEncryptDataKey(ctx, &materials.ReEncryptRequest{Suite: s, Key: dk.EncryptedDataKey, SourceKeyID: arn})
			return err
		}},
		{"Decrypt", func() error { _, err := kmsDecrypt(kr, s, dk.EncryptedDataKey, nil); return err }},
		{"Decrypt (discovery)", func() error { _, err := kmsDecrypt(disc, s, dk.EncryptedDataKey, nil); return err }},
	}
	for _, c := range calls {
		for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
			tr.set(status, size, 0)
			var err error
			alloc := allocDuring(func() { err = c.f() })
			var tl *answerlimit.TooLargeError
			if !errors.As(err, &tl) || !errors.Is(err, materials.ErrKMSResponse) || tl.Limit != 64<<10 || !strings.Contains(err.Error(), "exceeds 65536 bytes") {
				t.Errorf("%s, a %d MiB answer with status %d: %v, want an answer too large", c.name, size>>20, status, err)
			}
			if alloc > most {
				t.Errorf("%s, status %d: %d MiB allocated for a %d MiB answer", c.name, status, alloc>>20, size>>20)
			}
			if n := tr.count(); n != 1 {
				t.Errorf("%s, status %d: %d requests, want 1 (no retry)", c.name, status, n)
			}
		}
		for _, tc := range []struct {
			pad int
			ok  bool
		}{{64 << 10, true}, {64<<10 + 1, false}} {
			tr.set(0, 0, tc.pad)
			err := c.f()
			if tc.ok != (err == nil) {
				t.Errorf("%s, an honest answer padded to %d bytes: %v", c.name, tc.pad, err)
			}
		}
	}
}
