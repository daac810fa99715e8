package s3test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// exactCopy wraps the gofakes3 handler so that CopyObject behaves as in S3
// where the client's safety depends on it. gofakes3 itself copies the
// current version whatever ?versionId= the source names, merges metadata
// under MetadataDirective REPLACE, ignores x-amz-copy-source-if-match,
// accepts a copy of an object onto itself that changes nothing, and
// answers with the source's version id. Here a CopyObject is served as a
// GET of the source (the version named, if any) and a PUT of the
// destination against gofakes3:
//
//   - the source version is the one named by ?versionId=;
//   - MetadataDirective COPY (the default) keeps the source's user
//     metadata and content headers, REPLACE takes the request's only;
//   - x-amz-copy-source-if-match and -if-none-match are checked (412
//     PreconditionFailed), and If-Match/If-None-Match on the destination
//     are passed on;
//   - a copy onto itself (same bucket and key, no version or the current
//     one) is refused with 400 InvalidRequest unless it changes the
//     metadata (REPLACE), the storage class, the website redirect or the
//     encryption attributes, with S3's own message;
//   - x-amz-version-id is the version the copy created (none in an
//     unversioned bucket), and x-amz-copy-source-version-id the source's.
//
// A HEAD of a version (?versionId=) is served as a GET of it without the
// body: gofakes3 answers it with the current version. A DeleteObject with
// If-Match deletes only an object whose ETag matches (412
// PreconditionFailed otherwise, 404 when there is none), as S3's
// conditional deletes do; gofakes3 ignores the header.
//
// UploadPartCopy (a copy with ?uploadId) is left to gofakes3.
//
// s3mem merges the metadata of every PUT with that of the object it
// replaces, where S3 replaces it: exactVersions.PutObject marks the names
// the new object does not have with unsetMeta, and the answers leave them
// out (unsetFilter).
func exactCopy(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &unsetFilter{ResponseWriter: rw}
		defer w.finish()
		q := r.URL.Query()
		if v := q.Get("versionId"); r.Method == http.MethodHead && v != "" && v != "null" {
			// gofakes3 answers a HEAD of a version with the current version.
			get := r.Clone(r.Context())
			get.Method = http.MethodGet
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, get)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			return
		}
		if m := r.Header.Get("If-Match"); r.Method == http.MethodDelete && m != "" && !q.Has("uploadId") {
			// gofakes3 ignores If-Match on DeleteObject; S3 deletes only
			// an object (the version named, if any) whose ETag matches.
			u := &url.URL{Path: r.URL.Path}
			if v := q.Get("versionId"); v != "" {
				u.RawQuery = url.Values{"versionId": {v}}.Encode()
			}
			cur := inner(next, http.MethodGet, u, nil, nil)
			switch {
			case cur.Code != http.StatusOK:
				relay(w, cur)
				return
			case !etagIn(cur.Header().Get("ETag"), m):
				s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
				return
			}
		}
		if r.Method != http.MethodPut || r.Header.Get("X-Amz-Copy-Source") == "" || q.Has("uploadId") || q.Has("partNumber") {
			next.ServeHTTP(w, r)
			return
		}
		serveCopy(next, w, r)
	})
}

// selfCopyMessage is S3's message for a copy onto itself that changes
// nothing.
const selfCopyMessage = "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."

// copiedHeaders are the content headers a copy carries over (COPY) or
// takes from the request (REPLACE), besides x-amz-meta-*.
var copiedHeaders = []string{"Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language", "Cache-Control", "Expires", "X-Amz-Website-Redirect-Location"}

func serveCopy(next http.Handler, w http.ResponseWriter, r *http.Request) {
	source := r.Header.Get("X-Amz-Copy-Source")
	srcPath, srcVersion := source, ""
	if i := strings.Index(source, "?"); i >= 0 {
		srcPath = source[:i]
		vq, err := url.ParseQuery(source[i+1:])
		if err != nil {
			s3Error(w, http.StatusBadRequest, "InvalidArgument", "bad x-amz-copy-source")
			return
		}
		srcVersion = vq.Get("versionId")
	}
	srcBucket, srcRawKey, ok := strings.Cut(strings.TrimPrefix(srcPath, "/"), "/")
	if !ok || srcBucket == "" || srcRawKey == "" {
		s3Error(w, http.StatusBadRequest, "InvalidArgument", "x-amz-copy-source must contain bucket and key separated by '/'")
		return
	}
	srcKey, err := url.PathUnescape(srcRawKey)
	if err != nil {
		s3Error(w, http.StatusBadRequest, "InvalidArgument", "bad x-amz-copy-source key")
		return
	}
	dstBucket, dstKey, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")

	srcURL := &url.URL{Path: "/" + srcBucket + "/" + srcKey}
	if srcVersion != "" {
		srcURL.RawQuery = url.Values{"versionId": {srcVersion}}.Encode()
	}
	src := inner(next, http.MethodGet, srcURL, nil, nil)
	if src.Code != http.StatusOK {
		relay(w, src)
		return
	}
	etag := src.Header().Get("ETag")
	if m := r.Header.Get("X-Amz-Copy-Source-If-Match"); m != "" && !etagIn(etag, m) {
		s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
		return
	}
	if m := r.Header.Get("X-Amz-Copy-Source-If-None-Match"); m != "" && etagIn(etag, m) {
		s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
		return
	}

	replace := strings.EqualFold(r.Header.Get("X-Amz-Metadata-Directive"), "REPLACE")
	if srcBucket == dstBucket && srcKey == dstKey && !replace && !changesAttributes(r.Header) {
		current := srcVersion == ""
		if !current {
			head := inner(next, http.MethodHead, &url.URL{Path: "/" + srcBucket + "/" + srcKey}, nil, nil)
			current = head.Code == http.StatusOK && head.Header().Get("X-Amz-Version-Id") == srcVersion
		}
		if current {
			s3Error(w, http.StatusBadRequest, "InvalidRequest", selfCopyMessage)
			return
		}
	}

	h := http.Header{}
	from := src.Header()
	if replace {
		from = r.Header
	}
	for k, v := range from {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Amz-Meta-") && (len(v) == 0 || v[0] != unsetMeta) {
			h[http.CanonicalHeaderKey(k)] = v
		}
	}
	for _, k := range copiedHeaders {
		if v := from.Get(k); v != "" && v != unsetMeta {
			h.Set(k, v)
		}
	}
	for _, k := range []string{"If-Match", "If-None-Match", "X-Amz-Storage-Class"} {
		if v := r.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	body := src.Body.Bytes()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	put := inner(next, http.MethodPut, &url.URL{Path: "/" + dstBucket + "/" + dstKey}, h, body)
	if put.Code != http.StatusOK {
		relay(w, put)
		return
	}
	if v := put.Header().Get("X-Amz-Version-Id"); v != "" {
		w.Header().Set("X-Amz-Version-Id", v)
	}
	if v := src.Header().Get("X-Amz-Version-Id"); v != "" {
		w.Header().Set("X-Amz-Copy-Source-Version-Id", v)
	}
	w.Header().Set("Content-Type", "application/xml")
	var out bytes.Buffer
	out.WriteString(xml.Header)
	fmt.Fprintf(&out, `<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>%s</LastModified><ETag>%s</ETag></CopyObjectResult>`,
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), xmlEscape(put.Header().Get("ETag")))
	w.WriteHeader(http.StatusOK)
	w.Write(out.Bytes())
}

// changesAttributes reports a copy request that changes something besides
// the metadata: storage class, website redirect, encryption.
func changesAttributes(h http.Header) bool {
	for _, k := range []string{"X-Amz-Storage-Class", "X-Amz-Website-Redirect-Location", "X-Amz-Server-Side-Encryption",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "X-Amz-Server-Side-Encryption-Customer-Algorithm"} {
		if h.Get(k) != "" {
			return true
		}
	}
	return false
}

// inner sends a request to the wrapped handler and records its answer.
func inner(next http.Handler, method string, u *url.URL, h http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, u.RequestURI(), bytes.NewReader(body))
	req.URL = u
	if h != nil {
		req.Header = h
	}
	req.ContentLength = int64(len(body))
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, req)
	return rec
}

func relay(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func etagIn(etag, list string) bool {
	e := strings.Trim(strings.TrimSpace(etag), `"`)
	for _, c := range strings.Split(list, ",") {
		if c = strings.Trim(strings.TrimSpace(c), `"`); c == "*" || c == e {
			return true
		}
	}
	return false
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `%s<Error><Code>%s</Code><Message>%s</Message></Error>`, xml.Header, code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// exactVersions fixes one deviation of the s3mem backend from S3: deleting
// the current version of an object by its version id leaves the object
// without a current version (and gofakes3 then panics on it), where S3
// makes the next newest version current again. Here that version is
// promoted by writing it again. Its content and metadata stay, but it gets
// a new version id (s3mem cannot move a version back in place).
type exactVersions struct{ *s3mem.Backend }

func (b exactVersions) DeleteObjectVersion(bucket, key string, id gofakes3.VersionID) (gofakes3.ObjectDeleteResult, error) {
	versions, err := b.keyVersions(bucket, key)
	if err != nil {
		return gofakes3.ObjectDeleteResult{}, err
	}
	res, err := b.Backend.DeleteObjectVersion(bucket, key, id)
	if err != nil || len(versions) < 2 || versions[0].id != id {
		return res, err
	}
	// The current version went: make the next one current.
	next := versions[1]
	if next.deleteMarker {
		if _, err := b.Backend.DeleteObjectVersion(bucket, key, next.id); err != nil {
			return res, err
		}
		_, err := b.Backend.DeleteObject(bucket, key)
		return res, err
	}
	obj, err := b.Backend.GetObjectVersion(bucket, key, next.id, nil)
	if err != nil {
		return res, err
	}
	defer obj.Contents.Close()
	body, err := io.ReadAll(obj.Contents)
	if err != nil {
		return res, err
	}
	if _, err := b.Backend.DeleteObjectVersion(bucket, key, next.id); err != nil {
		return res, err
	}
	_, err = b.Backend.PutObject(bucket, key, obj.Metadata, bytes.NewReader(body), int64(len(body)), nil)
	return res, err
}

// ListBucketVersions lists the versions of each key newest first, as S3
// does (s3mem lists them oldest first).
func (b exactVersions) ListBucketVersions(bucket string, prefix *gofakes3.Prefix, page *gofakes3.ListBucketVersionsPage) (*gofakes3.ListBucketVersionsResult, error) {
	res, err := b.Backend.ListBucketVersions(bucket, prefix, page)
	if err != nil || res == nil {
		return res, err
	}
	key := func(v gofakes3.VersionItem) string {
		switch v := v.(type) {
		case *gofakes3.Version:
			return v.Key
		case *gofakes3.DeleteMarker:
			return v.Key
		}
		return ""
	}
	vs := res.Versions
	for i := 0; i < len(vs); {
		j := i + 1
		for j < len(vs) && key(vs[j]) == key(vs[i]) {
			j++
		}
		for a, z := i, j-1; a < z; a, z = a+1, z-1 {
			vs[a], vs[z] = vs[z], vs[a]
		}
		i = j
	}
	return res, nil
}

// unsetMeta marks a metadata name that a PUT did not set (see exactCopy).
const unsetMeta = "s3test-unset-5f0c2e"

// PutObject stores the object with exactly the metadata given: the names
// of the object it replaces that s3mem would carry over are marked unset.
func (b exactVersions) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	if old, err := b.Backend.HeadObject(bucket, key); err == nil && old != nil {
		if old.Contents != nil {
			old.Contents.Close()
		}
		for k := range old.Metadata {
			if _, ok := meta[k]; !ok {
				meta[k] = unsetMeta
			}
		}
	}
	return b.Backend.PutObject(bucket, key, meta, input, size, conditions)
}

// unsetFilter leaves the headers marked unsetMeta out of an answer.
type unsetFilter struct {
	http.ResponseWriter
	wrote bool // the headers were filtered
	sent  bool // a status was sent
}

// WriteHeader sends the first status only: gofakes3 writes a second one
// on some error paths, which net/http ignores with a log line per call
// ("superfluous response.WriteHeader") that filled the test output.
func (f *unsetFilter) WriteHeader(code int) {
	if f.sent {
		return
	}
	f.sent = true
	f.filter()
	f.ResponseWriter.WriteHeader(code)
}

func (f *unsetFilter) filter() {
	if f.wrote {
		return
	}
	f.wrote = true
	for k, v := range f.Header() {
		if len(v) > 0 && v[0] == unsetMeta {
			delete(f.Header(), k)
		}
	}
}

// finish filters the headers of a handler that wrote neither a status
// nor a body (net/http then sends them as they are).
func (f *unsetFilter) finish() { f.filter() }

func (f *unsetFilter) Write(p []byte) (int, error) {
	if !f.sent {
		f.WriteHeader(http.StatusOK)
	}
	return f.ResponseWriter.Write(p)
}

type keyVersion struct {
	id           gofakes3.VersionID
	deleteMarker bool
}

// keyVersions lists the versions of exactly key, newest first.
func (b exactVersions) keyVersions(bucket, key string) ([]keyVersion, error) {
	res, err := b.Backend.ListBucketVersions(bucket, &gofakes3.Prefix{HasPrefix: true, Prefix: key}, &gofakes3.ListBucketVersionsPage{MaxKeys: 10000})
	if err != nil {
		return nil, err
	}
	var out []keyVersion
	for _, v := range res.Versions {
		switch v := v.(type) {
		case *gofakes3.Version:
			if v.Key == key {
				out = append(out, keyVersion{id: v.VersionID})
			}
		case *gofakes3.DeleteMarker:
			if v.Key == key {
				out = append(out, keyVersion{id: v.VersionID, deleteMarker: true})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id > out[j].id }) // s3mem ids sort by age
	return out, nil
}
