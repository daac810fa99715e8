package main

// A defect an outside review found, fixed (the comment says what mv did
// before): mv deleted its source after a check, unconditionally.
// A concurrent writer that stores a new object at the source's key after
// the download (or the S3 copy) was checked, and before the delete, loses
// that object: mv deletes an object it never transferred. The delete must
// be conditional on the ETag of the object moved (If-Match), so that the
// writer's object stays (and the move reports a failure).

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// writerBeforeDelete returns a proxy endpoint that, when the first
// DELETE of key (without a version id) arrives, first stores the
// concurrent writer's object at key with the plain SDK, then forwards
// the delete.
func writerBeforeDelete(w *world, key string, writer []byte) string {
	var once sync.Once
	path := "/" + w.bucket + "/" + key
	return w.proxy(func(rw http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodDelete && r.URL.Path == path && r.URL.Query().Get("versionId") == "" {
			once.Do(func() { w.putRaw(key, writer, map[string]string{"owner": "writer"}) })
		}
		next.ServeHTTP(rw, r)
	})
}

func TestAttackMvKeepsConcurrentWritersObject(t *testing.T) {
	t.Parallel()
	writer := []byte("the concurrent writer's object, never moved")
	for name, dst := range map[string]func(w *world) string{
		"download": func(w *world) string { return "out" },
		"S3 copy":  func(w *world) string { return w.url("moved/k") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.srv.SkipUnlessConditionalDeletes(t, w.plain, w.bucket)
			aes, _ := w.aesKey("k")
			w.writeFile("f", []byte("the object moved"))
			w.run(append([]string{"cp", "f", w.url("d/k")}, aes...)...).want(t, exitOK)
			ep := writerBeforeDelete(w, "d/k", writer)
			r := w.runVia(ep, append([]string{"mv", w.url("d/k"), dst(w)}, aes...)...)
			if !w.exists("d/k") {
				t.Fatalf("mv deleted the object a concurrent writer stored at the source after the transfer was checked (it was never moved; exit %d)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if got, _ := w.raw("d/k"); string(got) != string(writer) {
				t.Fatalf("the source now holds %q, want the writer's object", got)
			}
			if r.code == exitOK {
				t.Errorf("mv exited 0 although the source was not deleted\nstdout: %s", r.stdout)
			}
			if testing.Verbose() {
				t.Logf("exit %d: %s%s", r.code, r.stdout, strings.TrimSpace(r.stderr))
			}
		})
	}
}
