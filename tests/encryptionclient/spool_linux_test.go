package encryptionclient_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"golang.org/x/sys/unix"
)

// linkCount is the number of names of the file st describes.
func linkCount(st os.FileInfo) uint64 { return uint64(st.Sys().(*syscall.Stat_t).Nlink) }

// A spool that fills its file system fails GetObject with ErrSpool (and
// ENOSPC): nothing is released and the file is gone. The file system is a
// 1 MiB tmpfs, which needs Linux and CAP_SYS_ADMIN (root in CI).
func TestSpoolDiskFull(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Skipf("cannot mount a 1 MiB tmpfs (needs CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	e := newEnv(t)
	ctx := context.Background()
	putLarge(t, e, "big", 3*spoolBuffer)
	c := e.client(e.krs["aes"], spoolOpts(dir))
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")})
	if out != nil || !errors.Is(err, encryptionclient.ErrSpool) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("output %v, error %v; want ErrSpool and ENOSPC", out != nil, err)
	}
	spoolGone(t, dir, "after the disk filled")
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Bfree != st.Blocks {
		t.Errorf("the tmpfs still has %d of %d blocks in use", st.Blocks-st.Bfree, st.Blocks)
	}
}
