package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// started is a command started in the background.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	res            result
}

// start starts an S3 command against endpoint without waiting for it.
func (w *world) start(endpoint string, stdin io.Reader, args ...string) *started {
	w.t.Helper()
	s := &started{done: make(chan struct{})}
	s.cmd = exec.Command(s3ecBin, append(args, "--endpoint-url", endpoint, "--path-style")...)
	s.cmd.Dir, s.cmd.Env, s.cmd.Stdin = w.dir, w.env, stdin
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		err := s.cmd.Wait()
		s.res = result{stdout: s.stdout.String(), stderr: s.stderr.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			s.res.code = ee.ExitCode()
		} else if err != nil {
			s.res.code = -1
		}
		close(s.done)
	}()
	return s
}

func (s *started) interrupt() { s.cmd.Process.Signal(os.Interrupt) }

// wait waits for the command, at most limit.
func (s *started) wait(t *testing.T, limit time.Duration) result {
	t.Helper()
	select {
	case <-s.done:
		return s.res
	case <-time.After(limit):
		s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("the command did not end within %v\nstderr: %s", limit, s.res.stderr)
		return s.res
	}
}

// uploads returns the multipart uploads in progress in the bucket.
func (w *world) uploads() []string {
	w.t.Helper()
	out, err := w.plain.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &w.bucket})
	if err != nil {
		w.t.Fatal(err)
	}
	var ids []string
	for _, u := range out.Uploads {
		ids = append(ids, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
	}
	return ids
}

func (w *world) abortAll() {
	out, err := w.plain.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &w.bucket})
	if err != nil {
		return
	}
	for _, u := range out.Uploads {
		w.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &w.bucket, Key: u.Key, UploadId: u.UploadId})
	}
}

// hold keeps a request unanswered until its client gives up on it, at
// most limit. The body is read first: only then does the server notice a
// client that went away.
func hold(r *http.Request, limit time.Duration) {
	io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(limit):
	}
}

func isUploadPart(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" && r.URL.Query().Get("uploadId") != ""
}
func isAbort(r *http.Request) bool {
	return r.Method == http.MethodDelete && r.URL.Query().Get("uploadId") != ""
}
func isComplete(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Get("uploadId") != ""
}

// TestInterruptAbortsUpload interrupts multipart uploads (of a file and of
// a pipe) once their first part reached the server, on a network where the
// abort takes two seconds (issue 10 #11: the command exited before its
// abort was sent, leaving the upload behind). The command must wait for
// the abort, leave no multipart upload and no object, and say
// "interrupted" (exit 130).
func TestInterruptAbortsUpload(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	big := data(20 << 20)
	w.writeFile("big", big)
	var mu sync.Mutex
	var cur *started
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		switch {
		case isUploadPart(r):
			mu.Lock()
			s := cur
			mu.Unlock()
			s.interrupt()
			// The part is in flight when the interrupt lands.
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Second):
			}
		case isAbort(r):
			// A slow network: the abort takes two seconds to arrive, if
			// the client still waits for it.
			select {
			case <-r.Context().Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
		next.ServeHTTP(rw, r)
	})
	for i := range 5 {
		key := fmt.Sprintf("big-%d", i)
		var stdin io.Reader
		src := "big"
		if i%2 == 1 {
			src, stdin = "-", bytes.NewReader(big) // a pipe, read in parts
		}
		mu.Lock()
		cur = w.start(ep, stdin, append([]string{"cp", "--no-resume", "--concurrency", "1", src, w.url(key)}, aes...)...)
		s := cur
		mu.Unlock()
		r := s.wait(t, 60*time.Second).want(t, exitInterrupted)
		if !strings.Contains(r.stderr, "interrupted") {
			t.Errorf("%s: stderr %q", key, r.stderr)
		}
		if ups := w.uploads(); len(ups) != 0 {
			t.Fatalf("%s (from %s): multipart uploads left behind: %q\nstderr: %s", key, src, ups, r.stderr)
		}
		if w.exists(key) {
			t.Errorf("%s: an interrupted upload stored the object", key)
		}
	}
}

// TestInterruptDuringComplete interrupts an upload while the server
// completes it (issue 10 #11: the command reported "interrupted", exit
// 130, although the object was stored). The command must report the true
// outcome: the object is stored, exit 0.
func TestInterruptDuringComplete(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	big := data(17 << 20)
	w.writeFile("big", big)
	var s *started
	ready, completed := make(chan struct{}), make(chan struct{})
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		switch {
		case isComplete(r):
			<-ready
			s.interrupt()
			time.Sleep(300 * time.Millisecond)
			// The server received the request: it completes the upload
			// whether or not the client still waits for the answer.
			// (ReverseProxy would cancel it when the client leaves: give it
			// a recorder for a response writer.)
			body, _ := io.ReadAll(r.Body)
			r2 := r.Clone(context.Background())
			r2.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r2)
			close(completed)
			for k, v := range rec.Header() {
				rw.Header()[k] = v
			}
			rw.WriteHeader(rec.Code)
			rw.Write(rec.Body.Bytes())
			return
		case isAbort(r):
			// An abort sent after the completion arrives after it.
			select {
			case <-completed:
			case <-time.After(10 * time.Second):
			}
		}
		next.ServeHTTP(rw, r)
	})
	s = w.start(ep, nil, append([]string{"cp", "big", w.url("big")}, aes...)...)
	close(ready)
	r := s.wait(t, 60*time.Second)
	stored := w.exists("big")
	if !stored {
		t.Fatalf("the object was not stored; exit %d\n%s", r.code, r.stderr)
	}
	if r.code != exitOK || !strings.Contains(r.stderr, "stored") {
		t.Fatalf("the object is stored, but the command exited %d with %q", r.code, r.stderr)
	}
	if ups := w.uploads(); len(ups) != 0 {
		t.Errorf("multipart uploads left behind: %q", ups)
	}
	if got := w.run(append([]string{"cat", w.url("big")}, aes...)...).want(t, exitOK); got.stdout != string(big) {
		t.Error("the stored object does not read back")
	}
}

// TestInterruptAbortFails interrupts an upload whose abort the server
// refuses: the command must name the upload left behind and the command
// that aborts it.
func TestInterruptAbortFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t.Cleanup(w.abortAll)
	aes, _ := w.aesKey("k")
	w.writeFile("big", data(17<<20))
	var s *started
	ready := make(chan struct{})
	var once sync.Once
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		switch {
		case isUploadPart(r):
			<-ready
			once.Do(s.interrupt)
			hold(r, 20*time.Second)
			return
		case isAbort(r):
			rw.Header().Set("Content-Type", "application/xml")
			rw.WriteHeader(http.StatusForbidden)
			io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		next.ServeHTTP(rw, r)
	})
	s = w.start(ep, nil, append([]string{"cp", "--no-resume", "--concurrency", "1", "big", w.url("dir/big file")}, aes...)...)
	close(ready)
	r := s.wait(t, 60*time.Second).want(t, exitInterrupted)
	ups := w.uploads()
	if len(ups) != 1 {
		t.Fatalf("uploads %q, want the one whose abort was refused", ups)
	}
	id := strings.TrimPrefix(ups[0], "dir/big file ")
	want := fmt.Sprintf("aws s3api abort-multipart-upload --bucket %s --key 'dir/big file' --upload-id %s", w.bucket, id)
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "interrupted") {
		t.Errorf("stderr %q\nlacks %q", r.stderr, want)
	}
}

// TestInterruptTwice interrupts an upload, then again while its abort
// hangs: the command exits at once, and says what may be left.
func TestInterruptTwice(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t.Cleanup(w.abortAll)
	aes, _ := w.aesKey("k")
	w.writeFile("big", data(17<<20))
	var s *started
	ready := make(chan struct{})
	var once, twice sync.Once
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		switch {
		case isUploadPart(r):
			<-ready
			once.Do(s.interrupt)
			hold(r, 20*time.Second)
			return
		case isAbort(r):
			twice.Do(s.interrupt)
			hold(r, 20*time.Second)
			return
		}
		next.ServeHTTP(rw, r)
	})
	s = w.start(ep, nil, append([]string{"cp", "--no-resume", "--concurrency", "1", "big", w.url("big")}, aes...)...)
	close(ready)
	start := time.Now()
	r := s.wait(t, 20*time.Second)
	if r.code != exitInterrupted || time.Since(start) > 15*time.Second {
		t.Errorf("exit %d after %v", r.code, time.Since(start))
	}
	want := fmt.Sprintf("aws s3api list-multipart-uploads --bucket %s --prefix big", w.bucket)
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q\nlacks %q", r.stderr, want)
	}
	_ = syscall.SIGINT
}

// TestInterruptRecursiveSummary interrupts a recursive upload of 30 files
// at the 21st (issue 13 #11: the command said only "interrupted"): it
// must print a line for each file done and say how far it got, exit 130,
// and leave the 20 objects, not the 21st.
func TestInterruptRecursiveSummary(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	for i := range 30 {
		w.writeFile(fmt.Sprintf("tree/f%02d", i), data(1024))
	}
	var mu sync.Mutex
	puts := 0
	var s *started
	ready := make(chan struct{})
	ep := w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPut {
			mu.Lock()
			puts++
			n := puts
			mu.Unlock()
			if n == 21 {
				<-ready
				s.interrupt()
				hold(r, 20*time.Second)
				return
			}
		}
		next.ServeHTTP(rw, r)
	})
	s = w.start(ep, nil, append([]string{"cp", "-r", "tree", w.url("t/")}, aes...)...)
	close(ready)
	r := s.wait(t, 60*time.Second).want(t, exitInterrupted)
	want := "s3ec: interrupted; 20 of 30 files: 20 uploaded (20.0 KiB), 1 interrupted, 9 not started"
	if !strings.HasPrefix(r.stderr, want) {
		t.Errorf("stderr %q\nwant it to start with %q", r.stderr, want)
	}
	if n := strings.Count(r.stdout, "upload: "); n != 20 {
		t.Errorf("%d upload lines, want 20:\n%s", n, r.stdout)
	}
	if got := w.keys("t/"); len(got) != 20 || slices.Contains(got, "t/f20") {
		t.Errorf("stored %q", got)
	}
}
