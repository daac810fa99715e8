package encryptionclient_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// Tests in which S3 fails some keys of a DeleteObjects request, or answers
// it wrongly: an object whose own delete is not confirmed keeps its
// instruction file, so it stays readable.

// deleteServer answers DeleteObjects requests itself, deleting each
// requested key one by one with a signed client of the real server
// (so it works against any server), except the keys it is told to fail
// or to leave out of its answer. Every other request goes to next.
type deleteServer struct {
	next   http.RoundTripper
	s3     *s3.Client
	bucket string

	mu sync.Mutex
	// fail keys are kept and answered with an Error of this code.
	fail map[string]string
	// omit keys are kept and named in neither list.
	omit map[string]bool
	// omitUnversioned keys are, when requested without a version id, kept
	// and named in neither list (their versions are deleted as asked).
	omitUnversioned map[string]bool
	// extra keys are reported Deleted although nobody asked for them
	// (and are not deleted).
	extra []string
	// status, when non-zero, fails the whole request with it (nothing is
	// deleted).
	status int
	// quiet records the Quiet flag of the requests the server saw.
	quiet []bool
}

type delRequest struct {
	Objects []struct {
		Key       string  `xml:"Key"`
		VersionID *string `xml:"VersionId"`
	} `xml:"Object"`
	Quiet bool `xml:"Quiet"`
}

type delDeleted struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type delError struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

type delResult struct {
	XMLName xml.Name     `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []delDeleted `xml:"Deleted"`
	Errors  []delError   `xml:"Error"`
}

func (d *deleteServer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !req.URL.Query().Has("delete") {
		return d.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var in delRequest
	if err := xml.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.quiet = append(d.quiet, in.Quiet)
	status, fail, omit, omitU, extra := d.status, d.fail, d.omit, d.omitUnversioned, d.extra
	d.mu.Unlock()
	if status != 0 {
		return xmlResponse(req, status, []byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied by the test</Message></Error>`)), nil
	}
	var out delResult
	for _, o := range in.Objects {
		if code, ok := fail[o.Key]; ok {
			out.Errors = append(out.Errors, delError{Key: o.Key, VersionID: aws.ToString(o.VersionID), Code: code, Message: "failed by the test"})
			continue
		}
		if omit[o.Key] || o.VersionID == nil && omitU[o.Key] {
			continue
		}
		res, err := d.s3.DeleteObject(req.Context(), &s3.DeleteObjectInput{Bucket: &d.bucket, Key: aws.String(o.Key), VersionId: o.VersionID})
		if err != nil {
			out.Errors = append(out.Errors, delError{Key: o.Key, VersionID: aws.ToString(o.VersionID), Code: "InternalError", Message: err.Error()})
			continue
		}
		if !in.Quiet {
			del := delDeleted{Key: o.Key, VersionID: aws.ToString(o.VersionID)}
			if aws.ToBool(res.DeleteMarker) {
				del.DeleteMarker, del.DeleteMarkerVersionID = true, aws.ToString(res.VersionId)
			}
			out.Deleted = append(out.Deleted, del)
		}
	}
	for _, k := range extra {
		out.Deleted = append(out.Deleted, delDeleted{Key: k})
	}
	b, err := xml.Marshal(out)
	if err != nil {
		return nil, err
	}
	return xmlResponse(req, http.StatusOK, append([]byte(xml.Header), b...)), nil
}

func xmlResponse(req *http.Request, status int, body []byte) *http.Response {
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/xml"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}
}

// deleteAttackEnv is a test world whose encryption client talks to S3
// through a deleteServer.
type deleteAttackEnv struct {
	*env
	del *deleteServer
	c   *encryptionclient.Client
	// split writes objects whose envelope is in an instruction file.
	split *encryptionclient.Client
}

func newDeleteAttackEnv(t *testing.T) *deleteAttackEnv {
	t.Helper()
	e := newEnv(t)
	liar := &s3test.Liar{}
	client := e.srv.LiarClient(liar)
	d := &deleteServer{next: liar.Transport, s3: e.plain, bucket: e.bucket}
	liar.Transport = d
	c, err := encryptionclient.New(client, e.krs["aes"])
	if err != nil {
		t.Fatal(err)
	}
	return &deleteAttackEnv{env: e, del: d, c: c,
		split: e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })}
}

func (e *deleteAttackEnv) putSplit(keys ...string) {
	e.t.Helper()
	for _, k := range keys {
		if err := e.put(e.split, context.Background(), k, []byte("data of "+k)); err != nil {
			e.t.Fatal(err)
		}
	}
}

// readable fails the test unless key and its instruction file are stored
// and key decrypts.
func (e *deleteAttackEnv) readable(key string) {
	e.t.Helper()
	if !e.exists(key + ".instruction") {
		e.t.Errorf("the instruction file of %s was deleted", key)
	}
	if got, err := e.get(e.c, context.Background(), key); err != nil || string(got) != "data of "+key {
		e.t.Errorf("%s does not decrypt: %q, %v", key, got, err)
	}
}

// gone fails the test if key or its instruction file is still stored.
func (e *deleteAttackEnv) gone(key string) {
	e.t.Helper()
	if e.exists(key) || e.exists(key+".instruction") {
		e.t.Errorf("%s or its instruction file was left behind", key)
	}
}

func ids(keys ...string) []types.ObjectIdentifier {
	var out []types.ObjectIdentifier
	for _, k := range keys {
		out = append(out, types.ObjectIdentifier{Key: aws.String(k)})
	}
	return out
}

func deletedKeys(out *s3.DeleteObjectsOutput) []string {
	var ks []string
	for _, d := range out.Deleted {
		ks = append(ks, aws.ToString(d.Key))
	}
	return ks
}

// A key S3 fails (in Errors) or leaves out of its answer keeps its
// instruction file and stays readable; the others go with theirs. In
// quiet mode, where S3 names no deleted key, the same holds, and the
// caller still gets a quiet answer.
func TestAttackDeleteObjectsKeepsInstructionFilesOfFailedKeys(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		name := "verbose"
		if quiet {
			name = "quiet"
		}
		t.Run(name, func(t *testing.T) {
			e := newDeleteAttackEnv(t)
			e.putSplit("a", "b", "c")
			e.del.fail = map[string]string{"b": "AccessDenied"}
			e.del.omit = map[string]bool{"c": true}
			in := &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: ids("a", "b", "c"), Quiet: aws.Bool(quiet)}}
			out, err := e.c.DeleteObjects(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			e.gone("a")
			e.readable("b")
			e.readable("c")
			if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "b" || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
				t.Errorf("Errors = %+v, want b's AccessDenied only", out.Errors)
			}
			if got := strings.Join(deletedKeys(out), ","); quiet && got != "" || !quiet && got != "a" {
				t.Errorf("Deleted = %q (quiet %v)", got, quiet)
			}
			if aws.ToBool(in.Delete.Quiet) != quiet || len(in.Delete.Objects) != 3 {
				t.Errorf("the caller's input was changed: %+v", in.Delete)
			}
		})
	}
}

// When the whole request fails, no instruction file is deleted.
func TestAttackDeleteObjectsRequestFailureKeepsInstructionFiles(t *testing.T) {
	e := newDeleteAttackEnv(t)
	e.putSplit("a", "b")
	e.del.status = http.StatusForbidden
	_, err := e.c.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: ids("a", "b")}})
	if err == nil {
		t.Fatal("DeleteObjects reported no error for a refused request")
	}
	e.readable("a")
	e.readable("b")
}

// A Deleted entry for a key nobody asked to delete never costs that key
// its instruction file.
func TestAttackDeleteObjectsIgnoresUnrequestedDeletedKeys(t *testing.T) {
	e := newDeleteAttackEnv(t)
	e.putSplit("a", "x")
	e.del.extra = []string{"x", "x.instruction"}
	out, err := e.c.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: ids("a")}})
	if err != nil {
		t.Fatal(err)
	}
	e.gone("a")
	e.readable("x")
	if len(out.Errors) != 0 {
		t.Errorf("Errors = %+v", out.Errors)
	}
}

// In a versioned bucket a delete without a version id leaves a delete
// marker on the object and on its instruction file, as DeleteObject does,
// and the older version still decrypts; a failed key gets no delete marker
// on its instruction file; a delete of a version leaves the instruction
// file alone.
func TestAttackDeleteObjectsVersionedBucket(t *testing.T) {
	e := newDeleteAttackEnv(t)
	e.enableVersioning()
	ctx := context.Background()
	va := e.putVersion(e.split, "a", "data of a")
	e.putVersion(e.split, "b", "data of b")
	vc := e.putVersion(e.split, "c", "data of c")
	e.del.fail = map[string]string{"b": "AccessDenied"}
	objs := append(ids("a", "b"), types.ObjectIdentifier{Key: aws.String("c"), VersionId: aws.String(vc)})
	// The same key twice: one instruction-file delete.
	objs = append(objs, ids("a")...)
	out, err := e.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: objs}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "b" {
		t.Errorf("Errors = %+v, want b's only", out.Errors)
	}
	e.gone("a")
	if got, err := e.getVersion(e.c, "a", va); err != nil || got != "data of a" {
		t.Errorf("the version of a under the delete marker does not decrypt: %q, %v", got, err)
	}
	e.readable("b")
	if e.exists("c") {
		t.Error("the deleted version of c is still current")
	}
	if !e.exists("c.instruction") {
		t.Error("a delete of one version of c deleted its instruction file")
	}
}

// A Deleted entry for a version the caller named does not stand for the
// delete of the same key without a version id: when S3 confirms only the
// version, the current object keeps its instruction file.
func TestAttackDeleteObjectsVersionConfirmsOnlyThatVersion(t *testing.T) {
	e := newDeleteAttackEnv(t)
	e.enableVersioning()
	old := e.putVersion(e.split, "a", "old data of a")
	e.putVersion(e.split, "a", "data of a")
	e.del.omitUnversioned = map[string]bool{"a": true}
	objs := []types.ObjectIdentifier{{Key: aws.String("a"), VersionId: aws.String(old)}, {Key: aws.String("a")}}
	out, err := e.c.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: objs}})
	if err != nil {
		t.Fatal(err)
	}
	if got := deletedKeys(out); len(got) != 1 || aws.ToString(out.Deleted[0].VersionId) != old {
		t.Errorf("Deleted = %+v, want the old version of a only", out.Deleted)
	}
	e.readable("a")
}
