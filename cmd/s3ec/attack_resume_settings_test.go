package main

// A defect an outside review found, fixed (the comment says what cp did
// before): a resumed cp upload and the object settings of the
// command that resumes it.

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// An interrupted cp of a large file leaves a resume token named after the
// file, the destination and the endpoint only. The user then runs cp
// again with object settings the first run did not have (here the
// Content-Type and user metadata they forgot; --sse aws:kms or
// --storage-class are the same case). The library resumes the upload with
// the settings of the first run ("the object's settings are those of the
// first Upload"), and cp reports "upload: ..." and exits 0: the object is
// stored without the settings the command asked for, and nothing says
// so. A resume must either keep to the same settings (refuse, or start
// anew, when they differ) or say that the command's settings were not
// applied; it must not report them applied.
func TestAttackResumeWithOtherObjectSettings(t *testing.T) {
	t.Parallel()
	g := newResumeRig(t)
	w := g.w
	aes, _ := w.aesKey("k")
	big := data(40 << 20)
	w.writeFile("big", big)
	g.interrupted(t, "big", "big", aes)

	args := append([]string{"cp", "--concurrency", "1", "big", w.url("big"),
		"--content-type", "application/x-review5", "--metadata", "owner=review5"}, aes...)
	r, parts := g.run(0, args...)
	if r.code != exitOK {
		// Refused or started anew with the asked settings: checked below
		// only when the command says it stored the object.
		t.Logf("exit %d (%d parts)\nstdout: %s\nstderr: %s", r.code, parts, r.stdout, r.stderr)
		return
	}
	head, err := w.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	ct, owner := aws.ToString(head.ContentType), head.Metadata["owner"]
	if ct != "application/x-review5" || owner != "review5" {
		said := strings.TrimSpace(r.stdout + r.stderr)
		t.Errorf("cp --content-type application/x-review5 --metadata owner=review5 exited 0 (resumed: %d parts sent) but the object has Content-Type %q and metadata owner=%q: the first run's settings, not the command's\noutput: %s", parts, ct, owner, said)
	}
}
