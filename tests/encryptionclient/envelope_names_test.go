package encryptionclient_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// s3MetadataEncoding makes the in-process server return user-metadata
// values the way AWS S3 does: a value with non-ASCII bytes comes back as an
// RFC 2047 encoded word of those bytes, each read as one character
// ("double encoding"). ASCII values come back as sent.
type s3MetadataEncoding struct{ next http.RoundTripper }

func (t s3MetadataEncoding) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	for name, vals := range resp.Header {
		if !strings.HasPrefix(strings.ToLower(name), "x-amz-meta-") {
			continue
		}
		for i, v := range vals {
			ascii := true
			for j := 0; j < len(v); j++ {
				ascii = ascii && v[j] < 0x80
			}
			if ascii {
				continue
			}
			var latin strings.Builder
			for j := 0; j < len(v); j++ {
				latin.WriteRune(rune(v[j]))
			}
			vals[i] = "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(latin.String())) + "?="
		}
	}
	return resp, nil
}

// s3Clients are the plain clients a test writes and reads through: the
// server as it is, and the server behind AWS S3's metadata encoding.
func (e *env) s3Clients() map[string]*s3.Client {
	return map[string]*s3.Client{
		"as stored": e.plain,
		"S3 encoding": e.srv.Client(func(o *s3.Options) {
			o.HTTPClient = &http.Client{Transport: s3MetadataEncoding{next: http.DefaultTransport}}
		}),
	}
}

var storages = map[string]encryptionclient.EnvelopeStorage{
	"metadata":         encryptionclient.StoreMetadata,
	"instruction file": encryptionclient.StoreInstructionFile,
}

var formats = map[string]envelope.CommitmentPolicy{
	"V3": envelope.RequireEncryptRequireDecrypt,
	"V2": envelope.ForbidEncryptAllowDecrypt,
}

// encodedWordValues look like, contain or combine RFC 2047 encoded words,
// with and without non-ASCII text around them.
var encodedWordValues = []string{
	"=?UTF-8?B?SGk=?=",
	"=?utf-8?q?Hi?=",
	"prefix =?UTF-8?B?SGk=?= suffix",
	"=?UTF-8?B?SGk=?= =?UTF-8?B?SGk=?=",
	"=?UTF-8?B?w6k=?=",
	"café =?UTF-8?Q?caf=C3=A9?=",
	"финансы ☕",
}

func putGet(t *testing.T, c *encryptionclient.Client, ctx context.Context, bucket, key string, data []byte, meta map[string]string) (*s3.GetObjectOutput, []byte, error) {
	t.Helper()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(data), Metadata: meta}); err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	return out, got, err
}

// Defect 5: a context value that looks like an RFC 2047 encoded word was
// stored as is and decoded on read: PutObject succeeded, and every
// GetObject with the same context failed with a context mismatch.
func TestEncodedWordContextRoundTrip(t *testing.T) {
	e := newEnv(t)
	data := []byte("context round trip")
	for sname, s3c := range e.s3Clients() {
		for stname, st := range storages {
			for fname, f := range formats {
				c, err := encryptionclient.New(s3c, e.krs["kms"], func(o *encryptionclient.Options) {
					o.EnvelopeStorage, o.CommitmentPolicy = st, f
				})
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range encodedWordValues {
					ec := map[string]string{"k": v, v: "name"}
					ctx := encryptionclient.WithEncryptionContext(context.Background(), ec)
					key := fmt.Sprintf("ctx/%s/%s/%s/%d", sname, stname, fname, i)
					_, got, err := putGet(t, c, ctx, e.bucket, key, data, nil)
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("%s, %s, %s: context %q: GetObject: %v", sname, stname, fname, ec, err)
					}
					h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
					if err != nil {
						t.Fatalf("%s, %s, %s: context %q: HeadObject: %v", sname, stname, fname, ec, err)
					}
					_ = h
				}
			}
		}
	}
}

// A material description value that looks like an encoded word selected
// the key of the description it "decoded" to.
func TestEncodedWordMaterialDescriptionSelectsKey(t *testing.T) {
	e := newEnv(t)
	k1, k2 := randBytes(t, 32), randBytes(t, 32)
	data := []byte("material description round trip")
	for i, v := range encodedWordValues {
		desc := map[string]string{"k": v}
		writer, err := materials.NewAESKeyring(k1, func(o *materials.AESKeyringOptions) { o.MaterialDescription = desc })
		if err != nil {
			t.Fatal(err)
		}
		// The reader also holds another key under the description the value
		// would "decode" to.
		reader, err := materials.NewAESKeyring(k1, func(o *materials.AESKeyringOptions) {
			o.MaterialDescription = desc
			o.AdditionalKeys = []materials.AESKey{{Key: k2, MaterialDescription: map[string]string{"k": "Hi"}}}
		})
		if err != nil {
			t.Fatal(err)
		}
		for sname, s3c := range e.s3Clients() {
			for stname, st := range storages {
				for fname, f := range formats {
					opts := func(o *encryptionclient.Options) { o.EnvelopeStorage, o.CommitmentPolicy = st, f }
					w, err := encryptionclient.New(s3c, writer, opts)
					if err != nil {
						t.Fatal(err)
					}
					r, err := encryptionclient.New(s3c, reader, opts)
					if err != nil {
						t.Fatal(err)
					}
					key := fmt.Sprintf("md/%s/%s/%s/%d", sname, stname, fname, i)
					if _, err := w.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
						t.Fatal(err)
					}
					got, err := e.get(r, context.Background(), key)
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("%s, %s, %s: description %q: %v", sname, stname, fname, desc, err)
					}
				}
			}
		}
	}
}

// User metadata is returned as S3 returns it; values that look like
// encoded words come back exactly, and names that differ only in case
// (one of which S3 would keep, by map order) are refused.
func TestUserMetadataRoundTrip(t *testing.T) {
	e := newEnv(t)
	data := []byte("user metadata")
	for stname, st := range storages {
		c := e.client(e.krs["kms"], func(o *encryptionclient.Options) { o.EnvelopeStorage = st })
		meta := map[string]string{"note": "=?UTF-8?B?SGk=?=", "other": "a =?utf-8?q?b?= c"}
		out, got, err := putGet(t, c, context.Background(), e.bucket, "um/"+stname, data, meta)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", stname, err)
		}
		for k, v := range meta {
			if out.Metadata[k] != v {
				t.Fatalf("%s: metadata %s = %q, want %q", stname, k, out.Metadata[k], v)
			}
		}
		for _, bad := range []map[string]string{
			{"Color": "red", "color": "blue"},
			{"x-note": "a", "X-NOTE": "a"},
			{"bad name": "x"},
			{"": "x"},
			{"café": "x"},
			{"n": "a\nb"},
			{"n": "a\x00b"},
		} {
			key := "um/dup/" + stname
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(data), Metadata: bad})
			if !errors.Is(err, encryptionclient.ErrInvalidInput) {
				t.Fatalf("%s: metadata %q: %v", stname, bad, err)
			}
			if e.exists(key) || e.exists(key+".instruction") {
				t.Fatalf("%s: refused PutObject left an object", stname)
			}
		}
	}
}

// Defect 6: an instruction file holding an envelope name twice (in two
// cases, or twice in one case) decoded differently from read to read.
func TestInstructionFileDuplicateNamesEndToEnd(t *testing.T) {
	e := newEnv(t)
	data := []byte("one meaning")
	for fname, f := range formats {
		c := e.client(e.krs["kms"], func(o *encryptionclient.Options) {
			o.EnvelopeStorage, o.CommitmentPolicy = encryptionclient.StoreInstructionFile, f
		})
		key := "dup/" + fname
		if err := e.put(c, context.Background(), key, data); err != nil {
			t.Fatal(err)
		}
		body, _, err := e.raw(key + ".instruction")
		if err != nil {
			t.Fatal(err)
		}
		name, other := "x-amz-3", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 184))
		if fname == "V2" {
			name, other = "x-amz-iv", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 12))
		}
		for _, spelling := range []string{strings.ToUpper(name), name, "X" + name[1:]} {
			bad := strings.Replace(string(body), "{", `{"`+spelling+`":"`+other+`",`, 1)
			e.putRaw(key+".instruction", []byte(bad), map[string]string{envelope.KeyInstrFileMark: ""})
			for i := 0; i < 50; i++ {
				_, err := e.get(c, context.Background(), key)
				var me *envelope.MalformedError
				if !errors.Is(err, encryptionclient.ErrMalformed) || !errors.As(err, &me) || me.Field != name {
					t.Fatalf("%s, %s, read %d: got %v, want a MalformedError for %s", fname, spelling, i, err, name)
				}
			}
		}
		// The original instruction file reads again.
		e.putRaw(key+".instruction", body, map[string]string{envelope.KeyInstrFileMark: ""})
		if got, err := e.get(c, context.Background(), key); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: restored instruction file: %v", fname, err)
		}
	}
}
