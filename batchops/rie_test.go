//go:build linux

package batchops

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvRIE names the Runtime Interface Emulator binary for the tests;
// default ../.bin/aws-lambda-rie (.ci/run installs it there).
const EnvRIE = "S3EC_TEST_RIE"

// rieBinary returns the emulator, or skips the test when it is absent and
// CI is not set (with CI set, an absent emulator fails the test).
func rieBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv(EnvRIE)
	if p == "" {
		p = filepath.Join("..", ".bin", "aws-lambda-rie")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the Runtime Interface Emulator %s is absent (CI is set; .ci/run installs it): %v", p, err)
		}
		t.Skipf("the Runtime Interface Emulator %s is absent (install: GOBIN=$PWD/.bin go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d)", p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

var (
	bootstrapOnce sync.Once
	bootstrapPath string
	bootstrapErr  error
	bootstrapDir  string
)

// buildBootstrap builds the deployable Lambda as the README says (for
// this machine's architecture), once per test binary.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	bootstrapOnce.Do(func() {
		bootstrapDir, bootstrapErr = os.MkdirTemp("", "s3ec-batchops-bootstrap-")
		if bootstrapErr != nil {
			return
		}
		bootstrapPath = filepath.Join(bootstrapDir, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrapPath, "./cmd/s3ec-batchops")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			bootstrapErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if bootstrapErr != nil {
		t.Fatal(bootstrapErr)
	}
	return bootstrapPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bootstrapDir != "" {
		os.RemoveAll(bootstrapDir)
	}
	os.Exit(code)
}

// rie is the built Lambda running under the emulator.
type rie struct {
	url string
	log *bytes.Buffer
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRIE runs the bootstrap under the emulator with the environment env
// and returns its invocation URL. The emulator and the function are
// stopped when the test ends.
func startRIE(t *testing.T, env map[string]string) *rie {
	t.Helper()
	bin, boot := rieBinary(t), buildBootstrap(t)
	addr, apiAddr := freePort(t), freePort(t)
	cmd := exec.Command(bin, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, boot)
	cmd.Dir = filepath.Dir(boot)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "S3EC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &rie{url: "http://" + addr + "/2015-03-31/functions/function/invocations", log: &bytes.Buffer{}}
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return r.log.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the function is the emulator's child
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("emulator log:\n%s", r.log.String())
			mu.Unlock()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// invoke posts an event as the Lambda service does and returns the
// function's answer.
func (r *rie) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: HTTP %d, %v: %s", resp.StatusCode, err, body)
	}
	return body
}

// The deployable binary under the real runtime (aws-lambda-go's runtime
// API client talking to the Runtime Interface Emulator), invoked over
// HTTP with schema 2.0 and 1.0 events.
func TestRIERewrapVerifyAndInvalidJob(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)
	r := startRIE(t, f.env(map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": "120", EnvOperation: OpVerify}))

	// Schema 2.0: rewrap to the target key.
	resp := decodeResponse(t, r.invoke(t, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, resp, "Succeeded", "rewrapped")
	f.checkRewrapped(objs)

	// Schema 1.0: the environment's operation (verify), the bucket from
	// the ARN; the new key is readable.
	var current []testObject
	for _, o := range objs {
		current = append(current, testObject{key: o.key, encoded: o.encoded})
	}
	resp = decodeResponse(t, r.invoke(t, eventV1("arn:aws:s3:::"+f.bucket, current)), "1.0", "djEtaW52b2NhdGlvbg", len(objs))
	wantResults(t, resp, "Succeeded", "verified")

	// An invalid job: every task fails permanently, naming the argument.
	resp = decodeResponse(t, r.invoke(t, eventV2(map[string]string{ArgOperation: OpRewrap, ArgTargetKMSKeyID: "arn:aws:kms:us-east-1:111122223333:key/attacker"}, f.bucket, current)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, resp, "PermanentFailure", "targetKmsKeyId")

	// A tampered object fails verification permanently.
	f.tamper(current[0].key)
	resp = decodeResponse(t, r.invoke(t, eventV2(nil, f.bucket, current[:1])), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, resp, "PermanentFailure", "AuthenticationFailed")
}

// The Lambda deadline the runtime passes (AWS_LAMBDA_FUNCTION_TIMEOUT)
// reaches the handler: with less time than the margin, no task starts.
func TestRIEDeadlineNear(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:1]
	r := startRIE(t, f.env(map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": "5", EnvDeadlineMargin: "10s"}))
	f.kms.ResetCalls()
	resp := decodeResponse(t, r.invoke(t, eventV2(map[string]string{ArgOperation: OpRewrap}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", 1)
	wantResults(t, resp, "TemporaryFailure", "DeadlineNear")
	if n := len(f.kms.CallLog()); n != 0 {
		t.Errorf("%d KMS calls for a task that should not start", n)
	}
	if _, err := f.read(f.oldARN, objs[0].key); err != nil {
		t.Errorf("the object changed: %v", err)
	}
}
