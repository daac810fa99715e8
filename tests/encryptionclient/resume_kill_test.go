package encryptionclient_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testhooks"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// envResumeChild, set to a directory, makes TestUploadResumeAfterKill the
// child process that uploads and is killed.
const envResumeChild = "S3EC_TEST_RESUME_CHILD"

// killConfig is what the parent tells the child, in dir/config.json.
type killConfig struct {
	URL, AccessKey, SecretKey, Region string
	Real                              bool
	Bucket, Key                       string
	PartSize, MinPart                 int64
	WrapKey                           []byte // the AES keyring's key (a test key)
}

// An Upload whose process is killed with SIGKILL mid-upload, after it
// saved a resume token to a file (0600, written then renamed, as a command
// would), is resumed by another process from that file alone with the
// same keyring: the object is the exact encryption of the file, and no
// upload is left. The child is this test binary run again.
func TestUploadResumeAfterKill(t *testing.T) {
	if dir := os.Getenv(envResumeChild); dir != "" {
		resumeChild(t, dir)
		return
	}
	e := newEnv(t)
	dir := t.TempDir()
	data := e.resumeData()
	src := filepath.Join(dir, "source")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	wrapKey := randBytes(t, 32)
	minPart := int64(16)
	if e.srv.Real {
		minPart = encryptionclient.MinPartSize
	}
	cfg, err := json.Marshal(killConfig{
		URL: e.srv.URL, AccessKey: e.srv.AccessKey, SecretKey: e.srv.SecretKey, Region: e.srv.Region, Real: e.srv.Real,
		Bucket: e.bucket, Key: "killed", PartSize: e.testPartSize(), MinPart: minPart, WrapKey: wrapKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUploadResumeAfterKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), envResumeChild+"="+dir)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the child did not save a token in time:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the child exited cleanly before it was killed:\n%s", out.String())
	}
	if ups := e.multipartUploads(); len(ups) != 1 {
		t.Fatalf("%d uploads open after the kill, want 1", len(ups))
	}

	tokFile := filepath.Join(dir, "token")
	st, err := os.Stat(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", st.Mode().Perm())
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := materials.NewAESKeyring(wrapKey)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(kr)
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("killed"), Body: f},
		func(o *encryptionclient.UploadOptions) { o.ResumeToken = tok }); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(c, kr, "killed", data)
	e.mustHaveNoUploads()
}

// resumeChild uploads the parent's file with tokens saved to dir/token;
// once three parts were acknowledged and a later token saved, it marks
// dir/ready and blocks in OnResumeToken until it is killed.
func resumeChild(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg killConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	srv := &s3test.Server{URL: cfg.URL, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Region: cfg.Region, Real: cfg.Real}
	kr, err := materials.NewAESKeyring(cfg.WrapKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := encryptionclient.New(srv.Client(), kr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "source"))
	if err != nil {
		t.Fatal(err)
	}
	var acked atomic.Int64
	save := func(tok []byte) error {
		tmp := filepath.Join(dir, "token.tmp")
		if err := os.WriteFile(tmp, tok, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, "token")); err != nil {
			return err
		}
		if acked.Load() >= 3*cfg.PartSize {
			// Three parts are on S3 and this token is saved: let the
			// parent kill us mid-upload, with parts in flight.
			if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600); err != nil {
				return err
			}
			select {}
		}
		return nil
	}
	ctx := testhooks.WithPartLimits(context.Background(), cfg.MinPart, 1<<30)
	_, err = c.Upload(ctx, &s3.PutObjectInput{Bucket: &cfg.Bucket, Key: &cfg.Key, Body: f}, func(o *encryptionclient.UploadOptions) {
		o.PartSize, o.Concurrency, o.OnResumeToken = cfg.PartSize, 2, save
		o.Progress = func(done int64) { acked.Store(done) }
	})
	t.Fatalf("the upload ended (%v) before the parent killed it", err)
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
