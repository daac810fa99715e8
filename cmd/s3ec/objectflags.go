package main

import (
	"crypto/md5"
	"encoding/base64"

	"mime"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// objectFlags set how uploaded and copied objects are stored, as the aws
// CLI's flags of the same names do.
type objectFlags struct {
	contentType  string
	metadata     string
	cacheControl string
	sse          string
	sseKMSKeyID  string
	sseC         string
	sseCKey      string
	storageClass string
	expectedSize string

	// Parsed by check.
	meta    map[string]string
	ssecKey string // base64
	ssecMD5 string // base64
}

// defaultContentType is what S3 stores when no type is given, and what
// s3ec sets when it cannot guess one: every object gets one, in a single
// PutObject as in a multipart upload.
const defaultContentType = "binary/octet-stream"

func (o *objectFlags) register(fs *flagSet) {
	fs.group("Object settings (uploads and S3 copies)")
	fs.stringVar(&o.contentType, "content-type", "store `TYPE` as the objects' Content-Type (default: guessed from the file name's extension, else "+defaultContentType+")")
	fs.stringVar(&o.metadata, "metadata", "store the user metadata `KEY=VALUE[,KEY=VALUE]` (or a JSON object, {\"k\":\"v\"}) with the objects")
	fs.stringVar(&o.cacheControl, "cache-control", "store `VALUE` as the objects' Cache-Control")
	fs.stringVar(&o.sse, "sse", "server-side encryption as well, `ALG`: AES256 or aws:kms")
	fs.stringVar(&o.sseKMSKeyID, "sse-kms-key-id", "with --sse aws:kms, the KMS key `ID` S3 encrypts with")
	fs.stringVar(&o.sseC, "sse-c", "server-side encryption with a customer key, `ALG` AES256 (HTTPS only); also needed to read such objects")
	fs.stringVar(&o.sseCKey, "sse-c-key", "the customer key of --sse-c: `KEY` in base64 (32 bytes), or fileb://FILE of 32 raw bytes")
	fs.stringVar(&o.storageClass, "storage-class", "store the objects in `CLASS` (STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR...)")
	fs.stringVar(&o.expectedSize, "expected-size", "uploads from stdin: the expected size in `BYTES` (as in the aws CLI; the 8 MiB parts hold the largest encrypted object, 64 GiB, so it only refuses a larger stream before it is read)")
}

// check parses and checks the flags.
func (o *objectFlags) check() error {
	if o.metadata != "" {
		m, err := parseMetadata(o.metadata)
		if err != nil {
			return usagef("--metadata: %v", err)
		}
		o.meta = m
	}
	switch o.sse {
	case "", string(types.ServerSideEncryptionAes256), string(types.ServerSideEncryptionAwsKms), string(types.ServerSideEncryptionAwsKmsDsse):
	default:
		return usagef("--sse %q: want AES256 or aws:kms", o.sse)
	}
	switch {
	case o.sseKMSKeyID != "" && o.sse != string(types.ServerSideEncryptionAwsKms) && o.sse != string(types.ServerSideEncryptionAwsKmsDsse):
		return usagef("--sse-kms-key-id needs --sse aws:kms")
	case o.sseC != "" && o.sse != "":
		return usagef("give --sse or --sse-c, not both")
	case o.sseC != "" && o.sseC != "AES256":
		return usagef("--sse-c %q: want AES256", o.sseC)
	case o.sseC != "" && o.sseCKey == "":
		return usagef("--sse-c needs --sse-c-key")
	case o.sseCKey != "" && o.sseC == "":
		return usagef("--sse-c-key needs --sse-c AES256")
	}
	if o.sseCKey != "" {
		key, err := readSSECKey(o.sseCKey)
		if err != nil {
			return usagef("--sse-c-key: %v", err)
		}
		sum := md5.Sum(key)
		o.ssecKey = base64.StdEncoding.EncodeToString(key)
		o.ssecMD5 = base64.StdEncoding.EncodeToString(sum[:])
		clear(key)
	}
	if o.storageClass != "" {
		for _, c := range o.storageClass {
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return usagef("--storage-class %q: a storage class is written in capitals (STANDARD_IA)", o.storageClass)
			}
		}
	}
	if o.expectedSize != "" {
		n, err := strconv.ParseInt(o.expectedSize, 10, 64)
		if err != nil || n < 0 {
			return usagef("--expected-size %q: want a number of bytes", o.expectedSize)
		}
		if n > encryptionclient.MaxObjectSize {
			return usagef("--expected-size %d: an encrypted object holds at most %d bytes", n, int64(encryptionclient.MaxObjectSize))
		}
	}
	return nil
}

// settings reports whether a flag that sets how objects are stored was
// given (downloads refuse them).
func (o *objectFlags) settings() bool {
	return o.contentType != "" || o.metadata != "" || o.cacheControl != "" || o.sse != "" || o.storageClass != "" || o.expectedSize != ""
}

// checkEndpoint refuses an SSE-C key for a plain-HTTP endpoint: S3 takes
// customer keys only over HTTPS, and the key must not cross a network in
// clear. (The library refuses it again on every request.)
func (o *objectFlags) checkEndpoint(c *s3.Client) error {
	if o.ssecKey == "" {
		return nil
	}
	if ep := aws.ToString(c.Options().BaseEndpoint); strings.HasPrefix(strings.ToLower(ep), "http://") {
		return usagef("--sse-c sends the customer key to S3, which only HTTPS may carry; the endpoint %s is plain HTTP", ep)
	}
	return nil
}

// put sets the flags on an upload of the file name (its extension gives
// the content type when --content-type is not given; "" for stdin).
func (o *objectFlags) put(in *s3.PutObjectInput, name string) {
	in.ContentType = aws.String(o.typeOf(name))
	if o.meta != nil {
		in.Metadata = o.meta
	}
	if o.cacheControl != "" {
		in.CacheControl = aws.String(o.cacheControl)
	}
	if o.sse != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(o.sse)
	}
	if o.sseKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(o.sseKMSKeyID)
	}
	if o.ssecKey != "" {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String(o.sseC), aws.String(o.ssecKey), aws.String(o.ssecMD5)
	}
	if o.storageClass != "" {
		in.StorageClass = types.StorageClass(o.storageClass)
	}
}

// copyIn sets the flags on an S3 copy. Content-Type, metadata and
// Cache-Control given replace the source's (MetadataDirective REPLACE,
// the envelope carried over by the library); otherwise they are copied.
func (o *objectFlags) copyIn(in *s3.CopyObjectInput, name string) {
	if o.contentType != "" || o.metadata != "" || o.cacheControl != "" {
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.ContentType = aws.String(o.typeOf(name))
		in.Metadata = o.meta
		if o.cacheControl != "" {
			in.CacheControl = aws.String(o.cacheControl)
		}
	}
	if o.sse != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(o.sse)
	}
	if o.sseKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(o.sseKMSKeyID)
	}
	if o.storageClass != "" {
		in.StorageClass = types.StorageClass(o.storageClass)
	}
}

// get sets the SSE-C key on a read.
func (o *objectFlags) get(in *s3.GetObjectInput) {
	if o.ssecKey != "" {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String(o.sseC), aws.String(o.ssecKey), aws.String(o.ssecMD5)
	}
}

// head sets the SSE-C key on a HeadObject.
func (o *objectFlags) head(in *s3.HeadObjectInput) {
	if o.ssecKey != "" {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String(o.sseC), aws.String(o.ssecKey), aws.String(o.ssecMD5)
	}
}

// typeOf is the content type of the file name: --content-type, or the
// type of its extension, or defaultContentType.
func (o *objectFlags) typeOf(name string) string {
	if o.contentType != "" {
		return o.contentType
	}
	if t := mime.TypeByExtension(path.Ext(strings.ReplaceAll(name, `\`, "/"))); t != "" {
		return t
	}
	return defaultContentType
}

// parseMetadata parses KEY=VALUE[,KEY=VALUE] or a JSON object of strings.
func parseMetadata(s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		// Strictly: a name given twice or text after the object is refused,
		// as in the KEY=VALUE form (encoding/json keeps the last of two).
		var err error
		if m, err = envelope.ParseDescription(s); err != nil {
			return nil, usagef("--metadata: %v", err)
		}
	} else {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, usagef("want KEY=VALUE[,KEY=VALUE] or a JSON object, got %q", kv)
			}
			if _, dup := m[k]; dup {
				return nil, usagef("key %q given twice", k)
			}
			m[k] = v
		}
	}
	for k := range m {
		if k == "" {
			return nil, usagef("an empty key")
		}
	}
	return m, nil
}

// readSSECKey reads a customer key: fileb://FILE (32 raw bytes) or the
// key in base64. Errors never show it.
func readSSECKey(s string) ([]byte, error) {
	if p, ok := strings.CutPrefix(s, "fileb://"); ok {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if len(b) != 32 {
			clear(b)
			return nil, usagef("%s holds %d bytes; an AES256 key is 32", p, len(b))
		}
		return b, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		clear(b)
		return nil, usagef("want 32 bytes in base64, or fileb://FILE")
	}
	return b, nil
}
