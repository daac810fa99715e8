package encryptionclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"weak"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3 accepts customer-provided keys (SSE-C) only over HTTPS. A request that
// would send one over plain HTTP is refused before it leaves the process.
//
// Where the check runs. The endpoint of a request is known only once the
// SDK resolved it (BaseEndpoint, EndpointResolverV2 or the legacy
// EndpointResolver), in the Finalize step; the request may then still be
// retried, and the HTTP client may follow redirects. So the check looks at
// the request itself, never at the input fields: every request whose
// headers carry x-amz-server-side-encryption-customer-key or
// x-amz-copy-source-server-side-encryption-customer-key (object,
// instruction file, range, part, copy, re-wrap) must go to an https URL.
// It runs
//
//   - at the end of the Deserialize step, the last middleware before the
//     request is handed to the HTTP client, once per attempt (retries
//     happen in the Finalize step, above it), and
//   - for each hop inside the HTTP client: the SDK's default client
//     (aws/transport/http.BuildableClient) follows 307 and 308 redirects,
//     and Go's http.Client keeps custom headers such as the SSE-C key on a
//     redirect, also to another host or from https to http. The client's
//     HTTP client is wrapped for the requests that carry a key: an
//     *http.Client gets a RoundTripper that checks every request it sends,
//     a BuildableClient a Transport whose Proxy function does the same (so
//     its timeouts and redirect rules stay the SDK's). A redirect to an
//     http URL then fails with ErrInvalidInput and nothing is sent to it.
//     An HTTP client of another type (a custom aws.HTTPClient) is called
//     as it is: the first hop is checked, but if it follows redirects
//     itself, it must refuse them from https to http.
//
// checkSSEC in addition refuses early, before any request, when the
// client's BaseEndpoint is plain HTTP.

type optionsGetter interface{ Options() s3.Options }

// checkSSEC refuses an SSE-C key when the client's endpoint is plain HTTP.
func checkSSEC(client S3API, key *string) error {
	if aws.ToString(key) == "" {
		return nil
	}
	if g, ok := client.(optionsGetter); ok && strings.HasPrefix(strings.ToLower(aws.ToString(g.Options().BaseEndpoint)), "http://") {
		return invalid("SSE-C customer keys may only be sent over HTTPS (endpoint %s)", aws.ToString(g.Options().BaseEndpoint))
	}
	return nil
}

// ssecHeaders are the request headers that carry a customer-provided key.
var ssecHeaders = []string{
	"X-Amz-Server-Side-Encryption-Customer-Key",
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key",
}

func carriesSSECKey(h http.Header) bool {
	for _, name := range ssecHeaders {
		if h.Get(name) != "" {
			return true
		}
	}
	return false
}

// ssecOverHTTPError refuses a request that would send an SSE-C key over
// plain HTTP. It is ErrInvalidInput, and never retried.
type ssecOverHTTPError struct{ endpoint string }

func (e *ssecOverHTTPError) Error() string {
	return fmt.Sprintf("%v: SSE-C customer keys may only be sent over HTTPS (endpoint %s)", ErrInvalidInput, e.endpoint)
}

func (e *ssecOverHTTPError) Unwrap() error { return ErrInvalidInput }

// RetryableError tells the SDK's retryer not to try again.
func (e *ssecOverHTTPError) RetryableError() bool { return false }

// checkSSECRequest refuses a request to a URL that is not https when its
// headers carry a customer key.
func checkSSECRequest(u *url.URL, h http.Header) error {
	if u == nil || strings.EqualFold(u.Scheme, "https") || !carriesSSECKey(h) {
		return nil
	}
	return &ssecOverHTTPError{endpoint: u.Scheme + "://" + u.Host}
}

// refuseSSECOverHTTP is a per-request option that checks the final request
// of every attempt and every redirect (see above).
func refuseSSECOverHTTP(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("S3ECRefuseSSECOverHTTP",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					if err := checkSSECRequest(req.URL, req.Header); err != nil {
						return middleware.DeserializeOutput{}, middleware.Metadata{}, err
					}
				}
				return next.HandleDeserialize(ctx, in)
			}), middleware.After)
	})
	if o.HTTPClient != nil {
		if _, done := o.HTTPClient.(ssecGuardClient); !done {
			o.HTTPClient = ssecGuardClient{next: o.HTTPClient}
		}
	}
}

// ssecGuardClient sends the requests that carry an SSE-C key through an
// HTTP client that checks every hop; the others go to next unchanged.
type ssecGuardClient struct{ next s3.HTTPClient }

func (g ssecGuardClient) Do(r *http.Request) (*http.Response, error) {
	if !carriesSSECKey(r.Header) {
		return g.next.Do(r)
	}
	if err := checkSSECRequest(r.URL, r.Header); err != nil {
		return nil, err
	}
	switch c := g.next.(type) {
	case *http.Client:
		cp := *c // shares the transport and its connections
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		cp.Transport = ssecGuardTransport{base}
		return cp.Do(r)
	case *awshttp.BuildableClient:
		return guardedBuildable(c).Do(r)
	}
	return g.next.Do(r)
}

// ssecGuardTransport checks every request an *http.Client sends, redirects
// included.
type ssecGuardTransport struct{ base http.RoundTripper }

func (t ssecGuardTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := checkSSECRequest(r.URL, r.Header); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	return t.base.RoundTrip(r)
}

// guarded holds, per BuildableClient, its copy whose Transport refuses
// SSE-C keys over plain HTTP on every hop. The copy has its own connection
// pool, built once; an entry goes when its BuildableClient is collected.
var guarded = struct {
	sync.Mutex
	m map[weak.Pointer[awshttp.BuildableClient]]*awshttp.BuildableClient
}{m: map[weak.Pointer[awshttp.BuildableClient]]*awshttp.BuildableClient{}}

func guardedBuildable(b *awshttp.BuildableClient) *awshttp.BuildableClient {
	k := weak.Make(b)
	guarded.Lock()
	defer guarded.Unlock()
	if g, ok := guarded.m[k]; ok {
		return g
	}
	g := b.WithTransportOptions(func(tr *http.Transport) {
		proxy := tr.Proxy
		tr.Proxy = func(r *http.Request) (*url.URL, error) {
			if err := checkSSECRequest(r.URL, r.Header); err != nil {
				return nil, err
			}
			if proxy == nil {
				return nil, nil
			}
			return proxy(r)
		}
	})
	guarded.m[k] = g
	runtime.AddCleanup(b, func(k weak.Pointer[awshttp.BuildableClient]) {
		guarded.Lock()
		delete(guarded.m, k)
		guarded.Unlock()
	}, k)
	return g
}
