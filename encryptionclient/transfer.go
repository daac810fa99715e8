package encryptionclient

import "sync"

// What Upload and Download share.

// Defaults of Upload and Download.
const (
	// DefaultUploadPartSize is Upload's part size: 8 MiB.
	DefaultUploadPartSize = 8 << 20
	// DefaultDownloadPartSize is Download's range size: 8 MiB.
	DefaultDownloadPartSize = 8 << 20
	// DefaultConcurrency is the number of parts Upload and Download
	// transfer at once: 4.
	DefaultConcurrency = 4
)

// maxConcurrency bounds every Concurrency (Upload, Download, ReEncrypt,
// Adopt, RotatePrefix): S3's limit of 10,000 parts per upload, beyond
// which workers have nothing to do; a larger value is ErrInvalidInput
// (it made Upload panic after creating its upload).
const maxConcurrency = 10_000

// checkConcurrency is the range check of every Concurrency option (0 is
// the default, resolved by the caller).
func checkConcurrency(n int) error {
	switch {
	case n < 0:
		return invalid("negative Concurrency")
	case n > maxConcurrency:
		return invalid("Concurrency %d over the limit of %d", n, maxConcurrency)
	}
	return nil
}

// progress serializes progress callbacks.
type progress struct {
	mu   sync.Mutex
	done int64
	fn   func(int64)
}

func (p *progress) add(n int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.fn(p.done)
}
