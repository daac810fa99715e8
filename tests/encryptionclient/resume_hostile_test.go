package encryptionclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// isListParts matches ListParts requests.
func isListParts(req *http.Request) bool {
	q := req.URL.Query()
	return req.Method == http.MethodGet && q.Has("uploadId") && !q.Has("partNumber")
}

// listPage is the XML of a ListParts answer.
func listPage(bucket, key, id string, marker, next int, truncated bool, parts []types.Part) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId><PartNumberMarker>%d</PartNumberMarker><NextPartNumberMarker>%d</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>%t</IsTruncated>`, bucket, key, id, marker, next, truncated)
	for _, p := range parts {
		fmt.Fprintf(&b, `<Part><PartNumber>%d</PartNumber><ETag>%s</ETag><Size>%d</Size></Part>`, aws.ToInt32(p.PartNumber), aws.ToString(p.ETag), aws.ToInt64(p.Size))
	}
	b.WriteString(`</ListPartsResult>`)
	return []byte(b.String())
}

// trueParts lists the upload's parts with the plain client.
func (e *env) trueParts(key, id string) []types.Part {
	e.t.Helper()
	out, err := e.plain.ListParts(context.Background(), &s3.ListPartsInput{Bucket: &e.bucket, Key: aws.String(key), UploadId: aws.String(id)})
	if err != nil {
		e.t.Fatal(err)
	}
	if aws.ToBool(out.IsTruncated) {
		e.t.Fatal("the test expects one page")
	}
	return out.Parts
}

func markerOf(req *http.Request) int {
	m, _ := strconv.Atoi(req.URL.Query().Get("part-number-marker"))
	return m
}

// ListParts answers are the server's word: a hostile or broken server
// cannot make a resume trust a part it does not hold as the token records
// it (such a part is sent again, and the object is still exact), nor
// slip in a part the upload never sent (refused), nor keep the listing
// going forever (refused after a bounded number of pages). An honest
// server that pages one part at a time is followed to the end.
func TestUploadResumeHostileListParts(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	for _, tc := range []struct {
		name string
		// page answers one ListParts request, given the true parts.
		page func(req *http.Request, truth []types.Part) (marker, next int, truncated bool, parts []types.Part)
		want error // nil: the resume succeeds
		// resent is the least number of parts the resume must send.
		resent int
		// most bounds the ListParts requests.
		most int
	}{
		{name: "honest, one part per page", most: resumeParts + 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				m := markerOf(req)
				for i, p := range truth {
					if int(aws.ToInt32(p.PartNumber)) > m {
						return m, int(aws.ToInt32(p.PartNumber)), i < len(truth)-1, truth[i : i+1]
					}
				}
				return m, 0, false, nil
			}},
		{name: "wrong ETag of part 1", resent: 1, most: 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				truth[0].ETag = aws.String(`"00000000000000000000000000000000"`)
				return 0, 0, false, truth
			}},
		{name: "wrong size of part 2", resent: 1, most: 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				truth[1].Size = aws.Int64(aws.ToInt64(truth[1].Size) - 16)
				return 0, 0, false, truth
			}},
		{name: "no parts at all", resent: 3, most: 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				return 0, 0, false, nil
			}},
		{name: "a part beyond the last", want: encryptionclient.ErrResumeMismatch, most: 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				extra := types.Part{PartNumber: aws.Int32(resumeParts + 1), ETag: aws.String(`"x"`), Size: aws.Int64(16)}
				return 0, 0, false, append(truth, extra)
			}},
		{name: "a part the token does not record", want: encryptionclient.ErrResumeMismatch, most: 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				unknown := types.Part{PartNumber: aws.Int32(resumeParts), ETag: aws.String(`"x"`), Size: aws.Int64(1234 + 16)}
				return 0, 0, false, append(truth, unknown)
			}},
		{name: "parts out of order", want: encryptionclient.ErrBadResponse, most: 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				return 0, 0, false, []types.Part{truth[1], truth[0]}
			}},
		{name: "truncated, the marker never moves", want: encryptionclient.ErrBadResponse, most: 2,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				return markerOf(req), 1, true, truth[:1]
			}},
		{name: "truncated, empty pages", want: encryptionclient.ErrBadResponse, most: 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				return markerOf(req), markerOf(req) + 1, true, nil
			}},
		{name: "truncated forever, a new part on every page", want: encryptionclient.ErrResumeMismatch, most: resumeParts + 1,
			page: func(req *http.Request, truth []types.Part) (int, int, bool, []types.Part) {
				m := markerOf(req)
				p := types.Part{PartNumber: aws.Int32(int32(m + 1)), ETag: aws.String(`"x"`), Size: aws.Int64(e.testPartSize())}
				return m, m + 1, true, []types.Part{p}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "hostile-" + strings.ReplaceAll(tc.name, " ", "-")
			tok, id := e.interruptedUpload(e.client(kr), key, data, 3)
			liar := &s3test.Liar{}
			if !e.srv.Real {
				// gofakes3 fails on a marker beyond its parts; the answer
				// is replaced anyway.
				liar.Transport = noMarker{http.DefaultTransport}
			}
			liar.On(isListParts, 0, s3test.EditBody(func(req *http.Request, _ []byte) []byte {
				m, n, tr, parts := tc.page(req, e.trueParts(key, id))
				return listPage(e.bucket, key, id, m, n, tr, parts)
			}))
			c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.resume(c, key, data, tok)
			reqs := liar.Requests()
			lists := 0
			for _, r := range reqs {
				if strings.HasPrefix(r, "GET ") && strings.Contains(r, "uploadId=") && !strings.Contains(r, "partNumber=") {
					lists++
				}
			}
			if lists > tc.most {
				t.Fatalf("%d ListParts requests, want at most %d", lists, tc.most)
			}
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if n := uploadParts(reqs); n != 0 {
					t.Fatalf("%d parts sent after a refused listing", n)
				}
				if _, err := e.plain.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: &key, UploadId: &id}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := uploadParts(reqs); n < tc.resent {
				t.Fatalf("%d parts sent, want at least %d (the parts the server misreported)", n, tc.resent)
			}
			e.mustStoreExactly(c, kr, key, data)
		})
	}
	e.mustHaveNoUploads()
}

// noMarker drops the marker of ListParts requests on their way to the
// in-process server.
type noMarker struct{ next http.RoundTripper }

func (n noMarker) RoundTrip(req *http.Request) (*http.Response, error) {
	if isListParts(req) && req.URL.Query().Has("part-number-marker") {
		req = req.Clone(req.Context())
		q := req.URL.Query()
		q.Del("part-number-marker")
		req.URL.RawQuery = q.Encode()
	}
	return n.next.RoundTrip(req)
}
