package encryptionclient_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// A legacy CBC object has no tag; what detects a cut body is its length:
// the Content-Length of the GET (and of HeadObject, for Download) and
// x-amz-unencrypted-content-length. All of them are headers, which the
// network controls: without them (a close-delimited body, as HTTP/1.1
// allows, and the metadata header dropped) a body cut cleanly at a block
// boundary whose plaintext ends in valid padding (0x01, say) is taken for
// the whole object. GetObject, Download and DownloadFile then report a
// cut object as read ("a cut body is ErrTruncated and no file appears").
// S3 always sends Content-Length on a GET: a CBC body without one (and no
// recorded length) should be refused.
func TestAttackLegacyCBCCutWithoutAnyLength(t *testing.T) {
	e := newLiarEnv(t)
	ctx := context.Background()
	pt, _, kr := cbcObject(t, e.env, "cbc")
	// A cut after block k is accepted by the padding check when the
	// plaintext of block k-1 ends in 0x01 (a 1-byte pad).
	cut := -1
	for end := 16; end < len(pt)-16; end += 16 {
		if pt[end-1] == 0x01 {
			cut = end
			break
		}
	}
	if cut < 0 {
		t.Skip("no block of the vector's plaintext ends in 0x01")
	}
	c := e.lyingClient(kr, func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
		o.EnableLegacyUnauthenticatedModes = true
	})
	noLength := []s3test.Lie{s3test.DelHeader("Content-Length"), s3test.DelHeader("X-Amz-Meta-X-Amz-Unencrypted-Content-Length")}
	e.liar.On(s3test.Head("cbc"), 0, noLength...)
	e.liar.On(s3test.And(s3test.Get("cbc"), s3test.Whole), 0, append([]s3test.Lie{s3test.ShortBody(int64(cut))}, noLength...)...)

	report := func(op string, got []byte, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: a body cut after %d of %d ciphertext bytes read as the whole object: %d of %d plaintext bytes (a prefix of it: %v)",
				op, cut, len(pt)+16-len(pt)%16, len(got), len(pt), bytes.HasPrefix(pt, got))
		}
	}
	got, err := readAll(ctx, c, e.in("cbc"))
	report("GetObject", got, err)
	got, err = e.download(c, ctx, "cbc")
	report("Download", got, err)
	dir := t.TempDir()
	n, err := c.DownloadFile(ctx, filepath.Join(dir, "dst"), e.in("cbc"))
	if err == nil {
		t.Errorf("DownloadFile: a cut body became the file dst (%s of %d bytes)", strconv.FormatInt(n, 10), len(pt))
	}
}
