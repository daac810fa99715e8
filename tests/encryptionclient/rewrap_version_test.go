package encryptionclient_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// RewrapInput.VersionId names the version the caller means (a bulk task's
// row): an older version is ErrNotCurrentVersion with nothing written; the
// current one is re-wrapped; and a write between Rewrap's HeadObject and
// its rewrite fails the conditional write (ErrObjectChanged), leaving the
// newer object as its writer stored it. Before, bulk's rewrap checked the
// version with a HeadObject of its own and called Rewrap without it, so
// a write in between was re-wrapped in the named version's place.
func TestRewrapVersionIdMustBeCurrent(t *testing.T) {
	e := newLiarEnv(t)
	e.enableVersioning()
	ctx := context.Background()
	c := e.client(e.krs["aes"])
	v1 := e.putVersion(c, "obj", "first")
	v2 := e.putVersion(c, "obj", "second")
	versions := func() int {
		out, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &e.bucket, Prefix: aws.String("obj")})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Versions)
	}
	rewrap := func(c *encryptionclient.Client, v string) error {
		_, err := c.Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("obj"), VersionId: aws.String(v), Keyring: e.krs["rsa"]})
		return err
	}
	if err := rewrap(c, v1); !errors.Is(err, encryptionclient.ErrNotCurrentVersion) {
		t.Fatalf("Rewrap of the older version: %v, want ErrNotCurrentVersion", err)
	}
	if n := versions(); n != 2 {
		t.Fatalf("%d versions after a refused Rewrap, want 2", n)
	}

	// A writer stores a third version right after Rewrap's HeadObject.
	var wrote bool
	e.liar.On(s3test.Head("obj"), 1, func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		wrote = true
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), Body: strings.NewReader("third")})
		return resp, err
	})
	if err := rewrap(e.lyingClient(e.krs["aes"]), v2); !wrote || !errors.Is(err, encryptionclient.ErrObjectChanged) {
		t.Fatalf("Rewrap of version %s with a write after its HeadObject (written: %v): %v, want ErrObjectChanged", v2, wrote, err)
	}
	if got, err := e.get(c, ctx, "obj"); err != nil || string(got) != "third" {
		t.Fatalf("the newer object after the failed Rewrap: %q, %v", got, err)
	}
	if n := versions(); n != 3 {
		t.Fatalf("%d versions, want 3 (nothing re-wrapped)", n)
	}

	// The current version, named, is re-wrapped.
	cur := e.putVersion(c, "obj", "fourth")
	if err := rewrap(c, cur); err != nil {
		t.Fatalf("Rewrap of the current version: %v", err)
	}
	if got, err := e.get(e.client(e.krs["rsa"]), ctx, "obj"); err != nil || string(got) != "fourth" {
		t.Fatalf("after the Rewrap: %q, %v", got, err)
	}
}
