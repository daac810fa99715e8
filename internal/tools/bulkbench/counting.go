//go:build linux

package main

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// requestCounter is the S3 client's HTTP client: the SDK's default one,
// counting requests by S3 operation, so that the report can say what each
// side costs per object (the input of the cost estimate in
// docs/BULK-JOBS.md).
type requestCounter struct {
	inner *awshttp.BuildableClient
	mu    sync.Mutex
	n     map[string]int64
}

func newRequestCounter() *requestCounter {
	return &requestCounter{inner: awshttp.NewBuildableClient(), n: map[string]int64{}}
}

// Do counts the request under its operation: for KMS, its X-Amz-Target
// (TrentService.Decrypt as "KMS Decrypt"); for S3, the SDK's x-id query
// parameter (CopyObject, PutObject, GetObject, UploadPart, ...), or
// HeadObject for a HEAD.
func (c *requestCounter) Do(r *http.Request) (*http.Response, error) {
	op := r.URL.Query().Get("x-id")
	switch t := r.Header.Get("X-Amz-Target"); {
	case strings.HasPrefix(t, "TrentService."):
		op = "KMS " + strings.TrimPrefix(t, "TrentService.")
	case r.Method == http.MethodHead:
		op = "HeadObject"
	case op == "":
		op = r.Method
	}
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
	return c.inner.Do(r)
}

func (c *requestCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// counts are the requests of both services made so far.
func (b *bench) counts() map[string]int64 {
	m := b.requests.snapshot()
	maps.Copy(m, b.kmsCalls.snapshot())
	return m
}

// perObject is the difference of two counts, per object.
func perObject(before, after map[string]int64, objects int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = float64(d) / float64(objects)
		}
	}
	return out
}

// formatCounts writes per-object counts as "HeadObject 1, CopyObject 1,
// KMS ReEncrypt 1".
func formatCounts(m map[string]float64) string {
	keys := slices.Sorted(maps.Keys(m))
	// S3 first, then KMS.
	slices.SortStableFunc(keys, func(a, b string) int {
		ka, kb := strings.HasPrefix(a, "KMS "), strings.HasPrefix(b, "KMS ")
		switch {
		case ka == kb:
			return 0
		case kb:
			return -1
		}
		return 1
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, trimFloat(m[k])+" "+k)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// trimFloat formats f with at most two decimals: 1, 0.5, 1.25.
func trimFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
