package encryptionclient

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The token's clear header and sealed state are parsed from bytes anyone
// may have written: parsing never panics, refuses trailing or missing
// bytes, and what parses encodes back to the same bytes.
func FuzzResumeTokenFormat(f *testing.F) {
	h := encodeHeader("bucket", "some/key", "upload-id-1", map[string]string{"x-amz-3": "d3JhcHBlZA==", "x-amz-w": "02", "x-amz-c": "115"})
	f.Add(append(bytes.Clone(h.raw), "sealed body"...), (&uploadState{partSize: 5 << 20, size: -1, completed: map[int32]types.CompletedPart{}}).encode())
	st := &uploadState{
		partSize: 8 << 20, size: 100 << 20, last: 13, checksumAlg: types.ChecksumAlgorithmCrc32c,
		instr: []byte(`{"x-amz-3":"…"}`), instrIn: &s3.PutObjectInput{StorageClass: types.StorageClassStandardIa, BucketKeyEnabled: aws.Bool(true)},
		completed: map[int32]types.CompletedPart{1: {PartNumber: aws.Int32(1), ETag: aws.String(`"abc"`), ChecksumCRC32C: aws.String("AAAAAA==")}},
	}
	f.Add(h.raw, st.encode())
	f.Fuzz(func(t *testing.T, tok, state []byte) {
		if h, rest, err := parseToken(tok); err == nil {
			again := encodeHeader(h.bucket, h.key, h.uploadID, h.envMeta)
			if !bytes.Equal(again.raw, h.raw) || !bytes.Equal(append(bytes.Clone(h.raw), rest...), tok) {
				t.Fatalf("header %q does not encode back", h.raw)
			}
		}
		if s, err := decodeState(state); err == nil {
			if !bytes.Equal(s.encode(), state) {
				t.Fatalf("state %x does not encode back", state)
			}
		}
	})
}
