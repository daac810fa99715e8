package encryptionclient_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// An envelope field sent twice, as two header lines with one name or as
// case twins (x-amz-meta-x-amz-iv and X-Amz-Meta-X-Amz-IV), reaches a Go
// client as one canonical header with two values; the SDK keeps the first
// value and drops the other silently, so the case-twin and duplicate
// checks of the envelope decoder (invariant d: "duplicates in metadata
// refused with ErrMalformed") never see them. Which value a reader uses is
// then the reader's choice (first, last, or both joined): the envelope has
// two meanings. Every read of the envelope should refuse it.
func TestAttackDuplicateEnvelopeHeaderValues(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	honest := e.client(e.krs["aes"])
	if err := e.put(honest, ctx, "obj", randBytes(t, 2000)); err != nil {
		t.Fatal(err)
	}
	_, meta, err := e.raw("obj")
	if err != nil {
		t.Fatal(err)
	}
	// The envelope's IV or message id: a second value of the same length.
	field := ""
	for k := range meta {
		if strings.EqualFold(k, envelope.KeyV3MessageID) || strings.EqualFold(k, envelope.KeyIV) {
			field = k
		}
	}
	if field == "" {
		t.Fatalf("no IV or message id in %v", meta)
	}
	raw, err := base64.StdEncoding.DecodeString(meta[field])
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] ^= 0x5a
	}
	other := base64.StdEncoding.EncodeToString(raw)
	name := http.CanonicalHeaderKey("x-amz-meta-" + field)

	c := e.lyingClient(e.krs["aes"], func(o *encryptionclient.Options) { o.EnableUnauthenticatedRanges = true })
	for _, order := range []string{"real first", "other first"} {
		e.liar.Reset()
		e.liar.On(s3test.Key("obj"), 0, s3test.EditHeaders(func(h http.Header) {
			real := h.Get(name)
			if order == "real first" {
				h[name] = []string{real, other}
			} else {
				h[name] = []string{other, real}
			}
		}))
		var mal *envelope.MalformedError
		_, err := readAll(ctx, c, e.in("obj"))
		if !errors.As(err, &mal) {
			t.Errorf("GetObject, %s with two values (%s): %v, want ErrMalformed", name, order, err)
		}
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj")})
		if !errors.As(err, &mal) {
			t.Errorf("HeadObject, %s with two values (%s): %v, want ErrMalformed", name, order, err)
		}
		_, err = e.download(c, ctx, "obj")
		if !errors.As(err, &mal) {
			t.Errorf("Download, %s with two values (%s): %v, want ErrMalformed", name, order, err)
		}
		_, err = encryptionclient.ReadEnvelope(ctx, e.s3, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj")})
		if !errors.As(err, &mal) {
			t.Errorf("ReadEnvelope, %s with two values (%s): %v, want ErrMalformed", name, order, err)
		}
	}
}
