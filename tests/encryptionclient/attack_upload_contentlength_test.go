package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
)

// TestAttackUploadContentLengthClaimNotAllocated: a defect an outside review found, fixed; the
// comment says what the code did before the fix.
//
// TestAttackUploadContentLengthClaimNotAllocated: Upload's
// single-PutObject path holds a body it cannot rewind in memory, and
// sizes that buffer by the caller's ContentLength before reading a byte
// (upload: buf := make([]byte, size)). A ContentLength that the body does
// not hold (60 GiB claimed, 10 bytes given), below a Threshold the caller
// raised (here 64 GiB; with PartSize MaxPartSize the default Threshold is
// 5 GiB already), must fail with ErrBodyLength as every other path does
// (PutObject, the multipart path, readUpTo for unknown lengths, which
// grows its buffer as bytes arrive). Instead the process asks the runtime
// for 60 GiB at once: "fatal error: runtime: out of memory", which no
// recover catches. The call runs in a child process (with its address
// space limited to 8 GiB), so that only the child dies.
func TestAttackUploadContentLengthClaimNotAllocated(t *testing.T) {
	if os.Getenv("S3EC_REVIEW6_CHILD") == "1" {
		boundsUploadLie(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -v 8388608 && exec "$0" "$@"`,
		os.Args[0], "-test.run=^TestAttackUploadContentLengthClaimNotAllocated$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "S3EC_REVIEW6_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "REVIEW6-OK") {
		s := string(out)
		if i := strings.Index(s, "goroutine "); i > 0 {
			s = s[:i] // the fatal error's message, not every stack
		}
		t.Fatalf("Upload of a 10-byte body claimed as 60 GiB: the child process failed (%v):\n%s", err, s)
	}
}

func boundsUploadLie(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	ctx := context.Background()
	in := &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("r6/lie"),
		Body:          io.MultiReader(bytes.NewReader([]byte("ten bytes!"))), // not seekable
		ContentLength: aws.Int64(60 << 30),
	}
	_, err := c.Upload(ctx, in, func(o *encryptionclient.UploadOptions) { o.Threshold = 64 << 30 })
	if !errors.Is(err, encryptionclient.ErrBodyLength) {
		t.Fatalf("Upload: %v, want ErrBodyLength", err)
	}
	if e.exists("r6/lie") {
		t.Fatal("an object was stored")
	}
	fmt.Println("REVIEW6-OK")
}
