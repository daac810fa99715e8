package s3test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Liar is an http.RoundTripper that plays a lying S3 server or network: it
// sends every request to the real server (through Transport) and then lets
// the rules of a test rewrite the answer — its status, its headers
// (Content-Length, Content-Range, ETag, metadata names and values) and its
// body (short, cut, long, substituted). Requests no rule matches pass
// through unchanged.
//
// Use it with Server.LiarClient, which returns an SDK client whose
// requests go through it, and arm rules with On:
//
//	liar := &s3test.Liar{}
//	c := srv.LiarClient(liar)
//	liar.On(s3test.Head("obj"), 1, s3test.SetHeader("Content-Length", "4611686018427387904"))
//
// The rewrite happens after net/http parsed the real answer, so headers
// and body can be made to disagree (a Content-Length of 60 MiB over a body
// of 100 bytes), which a real server cannot do over one connection but a
// proxy or a test double can. Liar is safe for concurrent use.
type Liar struct {
	// Transport carries the requests to the real server; nil means
	// http.DefaultTransport (LiarClient sets the server's own).
	Transport http.RoundTripper

	mu    sync.Mutex
	rules []*Rule
	seen  []string
}

// Match selects the requests a rule lies to.
type Match func(*http.Request) bool

// Lie rewrites one response. It may change resp in place or return
// another; an error is returned to the SDK as a transport failure.
type Lie func(req *http.Request, resp *http.Response) (*http.Response, error)

// Rule is a set of lies told to matching requests.
type Rule struct {
	match Match
	left  int // matching requests still to lie to; < 0: all
	lies  []Lie
	hits  int
}

// On arms lies for the next n requests that match (every one when n ≤ 0),
// applied in order. Rules are tried in the order they were armed; the
// first one that matches and has requests left applies.
func (l *Liar) On(match Match, n int, lies ...Lie) *Rule {
	if n <= 0 {
		n = -1
	}
	r := &Rule{match: match, left: n, lies: lies}
	l.mu.Lock()
	l.rules = append(l.rules, r)
	l.mu.Unlock()
	return r
}

// Hits returns how many responses the rule rewrote.
func (r *Rule) Hits(l *Liar) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return r.hits
}

// Reset removes every rule and forgets the requests seen.
func (l *Liar) Reset() {
	l.mu.Lock()
	l.rules, l.seen = nil, nil
	l.mu.Unlock()
}

// Requests returns the requests seen so far, as "METHOD /path?query"
// followed by " range=…" for ranged requests, in order.
func (l *Liar) Requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// RoundTrip implements http.RoundTripper.
func (l *Liar) RoundTrip(req *http.Request) (*http.Response, error) {
	line := req.Method + " " + req.URL.RequestURI()
	if rg := req.Header.Get("Range"); rg != "" {
		line += " range=" + rg
	}
	l.mu.Lock()
	l.seen = append(l.seen, line)
	var rule *Rule
	for _, r := range l.rules {
		if r.left != 0 && r.match(req) {
			rule = r
			if r.left > 0 {
				r.left--
			}
			r.hits++
			break
		}
	}
	l.mu.Unlock()
	tr := l.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	resp, err := tr.RoundTrip(req)
	if err != nil || rule == nil {
		return resp, err
	}
	for _, lie := range rule.lies {
		if resp, err = lie(req, resp); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// LiarClient returns an SDK client for the server (as Client does) whose
// requests go through l. l.Transport, when nil, is set to the transport
// of the server's own client.
func (s *Server) LiarClient(l *Liar, optFns ...func(*s3.Options)) *s3.Client {
	if l.Transport == nil {
		if s.httpClient != nil && s.httpClient.Transport != nil {
			l.Transport = s.httpClient.Transport
		} else {
			l.Transport = http.DefaultTransport
		}
	}
	return s.Client(append([]func(*s3.Options){func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: l} }}, optFns...)...)
}

// Matchers.

// keyOf returns the object key of a path-style request (/bucket/key).
func keyOf(req *http.Request) string {
	p := strings.TrimPrefix(req.URL.Path, "/")
	if _, key, ok := strings.Cut(p, "/"); ok {
		return key
	}
	return ""
}

// Key matches requests (of any method) for the object key, exactly: not
// its instruction file, not a listing.
func Key(key string) Match {
	return func(req *http.Request) bool { return keyOf(req) == key }
}

// Get matches GetObject requests for key, ranged or not.
func Get(key string) Match {
	return func(req *http.Request) bool {
		return req.Method == http.MethodGet && keyOf(req) == key && req.URL.Query().Get("uploadId") == ""
	}
}

// Head matches HeadObject requests for key.
func Head(key string) Match {
	return func(req *http.Request) bool { return req.Method == http.MethodHead && keyOf(req) == key }
}

// Ranged matches requests with a Range header.
func Ranged(req *http.Request) bool { return req.Header.Get("Range") != "" }

// Whole matches requests without a Range header.
func Whole(req *http.Request) bool { return req.Header.Get("Range") == "" }

// And matches requests that every m matches.
func And(ms ...Match) Match {
	return func(req *http.Request) bool {
		for _, m := range ms {
			if !m(req) {
				return false
			}
		}
		return true
	}
}

// Lies about the status and headers.

// Status sets the status code (and its text).
func Status(code int) Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.StatusCode = code
		resp.Status = fmt.Sprintf("%d %s", code, http.StatusText(code))
		return resp, nil
	}
}

// SetHeader sets a response header (Content-Length, Content-Range, ETag,
// x-amz-meta-…); for Content-Length it also sets resp.ContentLength.
func SetHeader(name, value string) Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.Header.Set(name, value)
		if http.CanonicalHeaderKey(name) == "Content-Length" {
			if n, err := strconv.ParseInt(value, 10, 64); err == nil {
				resp.ContentLength = n
			}
		}
		return resp, nil
	}
}

// DelHeader removes a response header; for Content-Length it also sets
// resp.ContentLength to -1 (unknown).
func DelHeader(name string) Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.Header.Del(name)
		if http.CanonicalHeaderKey(name) == "Content-Length" {
			resp.ContentLength = -1
		}
		return resp, nil
	}
}

// EditHeaders runs f on the response headers: rename metadata (duplicate
// or case-variant names), rewrite several at once.
func EditHeaders(f func(h http.Header)) Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		f(resp.Header)
		return resp, nil
	}
}

// ContentLengthToBody sets Content-Length to the length of the body as it
// is now (after the lies before it), reading the body into memory: a
// consistent lie.
func ContentLengthToBody() Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		b, err := readBody(resp)
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return resp, nil
	}
}

// Lies about the body. Unless a header lie says otherwise, the headers
// keep describing the real body.

// ShortBody ends the body, cleanly (io.EOF), after n bytes.
func ShortBody(n int64) Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.Body = &bodyFilter{ReadCloser: resp.Body, r: io.LimitReader(resp.Body, n)}
		return resp, nil
	}
}

// CutBody fails the body with io.ErrUnexpectedEOF after n bytes, as
// net/http does when a connection drops mid-body.
func CutBody(n int64) Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.Body = &bodyFilter{ReadCloser: resp.Body, r: io.MultiReader(io.LimitReader(resp.Body, n), errReader{io.ErrUnexpectedEOF})}
		return resp, nil
	}
}

// LongBody appends extra to the body.
func LongBody(extra []byte) Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.Body = &bodyFilter{ReadCloser: resp.Body, r: io.MultiReader(resp.Body, bytes.NewReader(extra))}
		return resp, nil
	}
}

// ReplaceBody serves b instead of the body (for another object's bytes,
// read them first with a plain client).
func ReplaceBody(b []byte) Lie {
	return func(_ *http.Request, resp *http.Response) (*http.Response, error) {
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp, nil
	}
}

// EditBody serves f of the real body, read into memory.
func EditBody(f func(req *http.Request, body []byte) []byte) Lie {
	return func(req *http.Request, resp *http.Response) (*http.Response, error) {
		b, err := readBody(resp)
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(f(req, b)))
		return resp, nil
	}
}

func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// bodyFilter reads r in place of a body and closes the body.
type bodyFilter struct {
	io.ReadCloser
	r io.Reader
}

func (b *bodyFilter) Read(p []byte) (int, error) { return b.r.Read(p) }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
