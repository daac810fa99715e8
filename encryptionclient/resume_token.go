package encryptionclient

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/internal/objectcrypto"
)

// The resume token's format. A token is
//
//	header: magic "S3ECRT", version 1,
//	        bucket, key, upload id, the envelope (its metadata form: the
//	        wrapped data key, never the data key), each length-prefixed
//	sealed: objectcrypto's token body (AES-256-GCM under a key derived from
//	        the data key, the header as additional data): the parts' GHASH
//	        sums, then the state below
//
// The header is in the clear (nothing in it is secret: S3 stores the same
// envelope on the upload) and authenticated with the rest. The state holds
// the part size, the plaintext size (−1 unknown), the last part's number (0
// unknown), the checksum algorithm, the instruction file to write at
// completion with its storage settings (never an SSE-C key), the parts S3
// acknowledged (ETag, checksums), and (state version 2) the digest of the
// object's settings (objectSettings): a resume with other settings is
// refused. Tokens of state version 1 open, without that check.

const (
	tokenMagic   = "S3ECRT"
	tokenVersion = 1
	stateVersion = 2
	// maxTokenSize bounds a token before it is parsed: 10,000 parts of
	// about 100 bytes each, the envelope, and room.
	maxTokenSize = 4 << 20
	// maxEnvelopeEntries bounds the envelope's metadata entries.
	maxEnvelopeEntries = 64
)

// tokenHeader is a token's clear part.
type tokenHeader struct {
	bucket, key, uploadID string
	envMeta               map[string]string
	raw                   []byte // the encoded header, the AEAD's additional data
}

// encodeHeader encodes the header of the upload's tokens; meta is the
// envelope's metadata form (envelope.Metadata).
func encodeHeader(bucket, key, uploadID string, meta map[string]string) *tokenHeader {
	b := append([]byte(tokenMagic), tokenVersion)
	b = appendString(b, bucket)
	b = appendString(b, key)
	b = appendString(b, uploadID)
	names := slices.Sorted(maps.Keys(meta))
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendString(b, k)
		b = appendString(b, meta[k])
	}
	return &tokenHeader{bucket: bucket, key: key, uploadID: uploadID, envMeta: meta, raw: b}
}

// parseToken splits a token into its header and sealed body; it checks
// the form only (the header is authenticated when the body is opened).
func parseToken(tok []byte) (*tokenHeader, []byte, error) {
	if len(tok) > maxTokenSize {
		return nil, nil, fmt.Errorf("%d bytes, more than the %d a token may have", len(tok), maxTokenSize)
	}
	if len(tok) < len(tokenMagic)+1 || string(tok[:len(tokenMagic)]) != tokenMagic {
		return nil, nil, errors.New("not a resume token")
	}
	if v := tok[len(tokenMagic)]; v != tokenVersion {
		return nil, nil, fmt.Errorf("token version %d, want %d", v, tokenVersion)
	}
	d := &decoder{b: tok[len(tokenMagic)+1:]}
	h := &tokenHeader{bucket: d.str(), key: d.str(), uploadID: d.str()}
	n := d.uvarint()
	if n > maxEnvelopeEntries {
		return nil, nil, fmt.Errorf("%d envelope entries", n)
	}
	h.envMeta = make(map[string]string, n)
	prev := ""
	for i := range n {
		k := d.str()
		if i > 0 && k <= prev {
			d.fail(errors.New("envelope entries not in order"))
		}
		prev = k
		h.envMeta[k] = d.str()
	}
	if d.err != nil {
		return nil, nil, d.err
	}
	if h.bucket == "" || h.key == "" || h.uploadID == "" || len(h.envMeta) != int(n) {
		return nil, nil, errors.New("incomplete header")
	}
	hl := len(tok) - len(d.b)
	// A copy: a Client keeps the header of an upload it takes up (its
	// later tokens start with it), and the caller may reuse its buffer.
	h.raw = slices.Clone(tok[:hl])
	return h, tok[hl:], nil
}

// uploadState is what a token records besides the sums.
type uploadState struct {
	partSize    int64
	size        int64 // plaintext size; −1 unknown
	last        int32 // the last part's number; 0 unknown
	checksumAlg types.ChecksumAlgorithm
	instr       []byte             // the instruction file to write at completion; nil: none
	instrIn     *s3.PutObjectInput // its storage settings (no SSE-C key)
	completed   map[int32]types.CompletedPart
	settings    []byte // objectSettings of the Upload's input; nil: not recorded
	// version is the state version it was decoded from (0: the current
	// one): a version-1 state encodes as version 1 again, without
	// settings, so that a token taken up keeps its meaning.
	version byte
}

func (s *uploadState) encode() []byte {
	v := byte(stateVersion)
	if s.version == 1 {
		v = 1
	}
	b := []byte{v}
	b = binary.AppendUvarint(b, uint64(s.partSize))
	b = binary.AppendVarint(b, s.size)
	b = binary.AppendUvarint(b, uint64(s.last))
	b = appendString(b, string(s.checksumAlg))
	b = appendString(b, string(s.instr))
	if s.instr != nil {
		in := s.instrIn
		for _, v := range []string{
			string(in.ACL), aws.ToString(in.GrantFullControl), aws.ToString(in.GrantRead), aws.ToString(in.GrantReadACP),
			aws.ToString(in.GrantWriteACP), string(in.StorageClass), string(in.ServerSideEncryption), aws.ToString(in.SSEKMSKeyId),
			aws.ToString(in.SSEKMSEncryptionContext), boolString(in.BucketKeyEnabled), aws.ToString(in.SSECustomerAlgorithm),
		} {
			b = appendString(b, v)
		}
	}
	nums := slices.Sorted(maps.Keys(s.completed))
	b = binary.AppendUvarint(b, uint64(len(nums)))
	for _, n := range nums {
		p := s.completed[n]
		b = binary.AppendUvarint(b, uint64(n))
		for _, v := range []*string{p.ETag, p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256} {
			b = appendString(b, aws.ToString(v))
		}
	}
	if v == 1 {
		return b
	}
	return appendString(b, string(s.settings))
}

func decodeState(b []byte) (*uploadState, error) {
	if len(b) == 0 || (b[0] != 1 && b[0] != stateVersion) {
		return nil, errors.New("unknown state version")
	}
	version := b[0]
	d := &decoder{b: b[1:]}
	partSize, size, last := d.uvarint(), d.varint(), d.uvarint()
	if partSize > MaxPartSize || last > MaxUploadParts {
		return nil, errors.New("sizes out of range")
	}
	s := &uploadState{partSize: int64(partSize), size: size, last: int32(last), version: version}
	s.checksumAlg = types.ChecksumAlgorithm(d.str())
	if instr := d.str(); instr != "" {
		s.instr = []byte(instr)
		f := make([]string, 11)
		for i := range f {
			f[i] = d.str()
		}
		if f[9] != "" && f[9] != "0" && f[9] != "1" {
			d.fail(errors.New("instruction-file settings"))
		}
		s.instrIn = &s3.PutObjectInput{
			ACL: types.ObjectCannedACL(f[0]), GrantFullControl: optString(f[1]), GrantRead: optString(f[2]), GrantReadACP: optString(f[3]),
			GrantWriteACP: optString(f[4]), StorageClass: types.StorageClass(f[5]), ServerSideEncryption: types.ServerSideEncryption(f[6]),
			SSEKMSKeyId: optString(f[7]), SSEKMSEncryptionContext: optString(f[8]), BucketKeyEnabled: parseBool(f[9]),
			SSECustomerAlgorithm: optString(f[10]),
		}
	}
	n := d.uvarint()
	if n > MaxUploadParts {
		return nil, fmt.Errorf("%d completed parts", n)
	}
	s.completed = make(map[int32]types.CompletedPart, n)
	for range n {
		num := d.uvarint()
		if num < 1 || num > MaxUploadParts {
			d.fail(fmt.Errorf("part number %d", num))
		}
		p := types.CompletedPart{PartNumber: aws.Int32(int32(num))}
		for _, v := range []**string{&p.ETag, &p.ChecksumCRC32, &p.ChecksumCRC32C, &p.ChecksumCRC64NVME, &p.ChecksumSHA1, &p.ChecksumSHA256} {
			*v = optString(d.str())
		}
		s.completed[int32(num)] = p
	}
	if version >= 2 {
		if v := d.str(); v != "" {
			if len(v) != sha256.Size {
				d.fail(errors.New("object settings"))
			}
			s.settings = []byte(v)
		}
	}
	switch {
	case d.err != nil:
		return nil, d.err
	case len(d.b) != 0:
		return nil, errors.New("trailing bytes")
	case s.size < -1 || s.size > MaxObjectSize || s.partSize <= 0 || s.partSize > MaxPartSize || s.last < 0 || s.last > MaxUploadParts:
		return nil, errors.New("sizes out of range")
	}
	return s, nil
}

// objectSettings is the digest of what of in makes the object, besides its
// body and envelope: metadata, content headers, tags, storage class,
// server-side encryption, ACL, Object Lock. A resumed Upload stores the
// settings of the first one (CreateMultipartUpload took them): a resume
// whose input asks for others is refused rather than reported done with
// settings it did not apply. The per-request fields (SSE-C key, expected
// owner, requester pays, completion conditions) are not part of it.
func objectSettings(in *s3.PutObjectInput) []byte {
	h := sha256.New()
	field := func(v string) { fmt.Fprintf(h, "%d:%s;", len(v), v) }
	field("s3ec object settings v1")
	for _, v := range []string{
		string(in.ACL), aws.ToString(in.GrantFullControl), aws.ToString(in.GrantRead), aws.ToString(in.GrantReadACP), aws.ToString(in.GrantWriteACP),
		aws.ToString(in.CacheControl), aws.ToString(in.ContentDisposition), aws.ToString(in.ContentEncoding),
		aws.ToString(in.ContentLanguage), aws.ToString(in.ContentType), timeString(in.Expires),
		string(in.ObjectLockMode), timeString(in.ObjectLockRetainUntilDate), string(in.ObjectLockLegalHoldStatus),
		string(in.ServerSideEncryption), aws.ToString(in.SSEKMSKeyId), aws.ToString(in.SSEKMSEncryptionContext),
		boolString(in.BucketKeyEnabled), aws.ToString(in.SSECustomerAlgorithm), string(in.StorageClass),
		aws.ToString(in.Tagging), aws.ToString(in.WebsiteRedirectLocation),
	} {
		field(v)
	}
	meta := map[string]string{}
	for k, v := range in.Metadata {
		meta[strings.ToLower(k)] = v
	}
	field(strconv.Itoa(len(meta)))
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		field(k)
		field(meta[k])
	}
	return h.Sum(nil)
}

func timeString(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// sealToken seals the state and the sums of ps into a token.
func sealToken(ps *objectcrypto.Parts, h *tokenHeader, st *uploadState) ([]byte, error) {
	sealed, err := ps.SealToken(h.raw, st.encode())
	if err != nil {
		return nil, err
	}
	return append(slices.Clip(h.raw), sealed...), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func boolString(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "1"
	}
	return "0"
}

func parseBool(s string) *bool {
	switch s {
	case "1":
		return aws.Bool(true)
	case "0":
		return aws.Bool(false)
	}
	return nil
}

// decoder reads length-prefixed fields; the first error sticks and every
// length is checked against what is left before anything is allocated.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

// uvarint and varint accept only the shortest encoding: a token has one
// form.
func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail(errors.New("truncated or overlong number"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || n != len(binary.AppendVarint(nil, v)) {
		d.fail(errors.New("truncated or overlong number"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errors.New("truncated"))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
