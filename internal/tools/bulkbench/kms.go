//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
)

// kmsProcess is the KMS test server in a child process (this binary with
// -child kms), so that the CPU time the benchmark reports per object is
// the client's alone, as with a remote KMS.
type kmsProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
}

func startKMS() (*kmsProcess, error) {
	cmd := exec.Command(os.Args[0], "-child", "kms", "-endpoint", "unused")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("KMS test server did not start: %q %v", line, err)
	}
	return &kmsProcess{cmd: cmd, stdin: stdin, url: strings.TrimSpace(line)}, nil
}

// stop ends the child (it exits when its stdin closes).
func (k *kmsProcess) stop() {
	k.stdin.Close()
	k.cmd.Wait()
}

// client is a real SDK KMS client for the child's server, counting its
// requests by operation, with the test server's region and credentials
// and no retries.
func (k *kmsProcess) client(counter *requestCounter) *kms.Client {
	return kms.New(kms.Options{
		BaseEndpoint: aws.String(k.url),
		Region:       kmstest.Region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDKMSTEST", SecretAccessKey: "kmstest-secret", Source: "bulkbench"}, nil
		}),
		HTTPClient:       counter,
		RetryMaxAttempts: 1,
	})
}

// runKMSChild serves the KMS test server until stdin closes, after
// printing its URL.
func runKMSChild() error {
	s := kmstest.NewServer()
	defer s.Close()
	if _, err := fmt.Println(s.URL); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, os.Stdin)
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	return err
}
