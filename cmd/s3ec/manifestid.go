package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/bulk"
)

// The checkpoint of a job over a manifest holds the identity of the
// manifest it counted rows of: its watermark and ahead set are positions
// in that manifest, and a manifest regenerated at the same address (other
// rows at those positions) must not be resumed from them.
//
// A local manifest is identified by the SHA-256 of its content (and its
// size); one in S3 by the ETag, VersionId and size of the object, as the
// GetObject that reads it returns them. An S3 Inventory manifest.json
// lists the MD5 of each data file (which bulk checks as it reads them), so
// its identity covers the data files too.

// manifestID identifies the content of a manifest.
type manifestID struct {
	SHA256    string `json:"sha256,omitempty"` // a local file
	ETag      string `json:"etag,omitempty"`   // an S3 object
	VersionId string `json:"version_id,omitempty"`
	Size      int64  `json:"size"`
}

func (m manifestID) String() string {
	var parts []string
	if m.SHA256 != "" {
		parts = append(parts, "SHA-256 "+m.SHA256)
	}
	if m.ETag != "" {
		parts = append(parts, "ETag "+m.ETag)
	}
	if m.VersionId != "" {
		parts = append(parts, "version "+m.VersionId)
	}
	return strings.Join(append(parts, fmt.Sprintf("%d bytes", m.Size)), ", ")
}

// weak reports an identity by size alone (an S3 object whose GetObject
// returned no ETag and no version id).
func (m manifestID) weak() bool { return m.SHA256 == "" && m.ETag == "" && m.VersionId == "" }

// hashFile returns the identity of the local file at path: it is read
// once, in constant memory.
func hashFile(path string) (manifestID, error) {
	// A pipe (--manifest /dev/stdin, a process substitution) is read
	// once: hashed here, it was empty when the job then read it, and the
	// job "finished" with no task; a named FIFO blocked the second open.
	// Checked before the open, which blocks on a FIFO without a writer.
	if st, err := os.Stat(path); err != nil {
		return manifestID{}, err
	} else if !st.Mode().IsRegular() {
		return manifestID{}, fmt.Errorf("not a regular file (a pipe can be read only once): with --report or --resume, give the manifest as a file")
	}
	f, err := os.Open(path)
	if err != nil {
		return manifestID{}, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return manifestID{}, err
	} else if !st.Mode().IsRegular() {
		return manifestID{}, fmt.Errorf("not a regular file")
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return manifestID{}, err
	}
	return manifestID{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// recordingGetter is the S3Getter that reads a manifest in S3: it records
// the identity of the manifest object (bucket, key) as its GetObject
// returns it, so that the identity is that of the bytes read.
type recordingGetter struct {
	c           bulk.S3Getter
	bucket, key string

	mu   sync.Mutex
	id   manifestID
	seen bool
}

func (g *recordingGetter) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := g.c.GetObject(ctx, in, optFns...)
	if err == nil && aws.ToString(in.Bucket) == g.bucket && aws.ToString(in.Key) == g.key && in.Range == nil {
		g.mu.Lock()
		if !g.seen {
			g.id = manifestID{ETag: aws.ToString(out.ETag), VersionId: aws.ToString(out.VersionId), Size: aws.ToInt64(out.ContentLength)}
			g.seen = true
		}
		g.mu.Unlock()
	}
	return out, err
}

// identity is the recorded identity, and whether the manifest was read.
func (g *recordingGetter) identity() (manifestID, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.id, g.seen
}
