package encryptionclient_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// hookS3 is an S3API over the test server that records what the client
// sends and lets a test interfere. On the in-process server, which has no
// UploadPartCopy, it emulates that call with a ranged GetObject and
// UploadPart.
type hookS3 struct {
	*s3.Client
	real bool

	mu         sync.Mutex
	calls      map[string]int
	copies     []*s3.CopyObjectInput
	puts       []*s3.PutObjectInput
	partCopies []*s3.UploadPartCopyInput
	creates    []*s3.CreateMultipartUploadInput

	onHead      func(*s3.HeadObjectOutput)          // edits what HeadObject returns
	beforeCopy  func(*s3.CopyObjectInput)           // runs before CopyObject is sent
	fakeCopy    bool                                // record CopyObject, send nothing
	beforePut   func(*s3.PutObjectInput)            // runs before PutObject is sent
	onPartCopy  func(*s3.UploadPartCopyInput) error // a non-nil error fails the call
	listMaxKeys int32                               // forces small listing pages
	onList      func(*s3.ListObjectsV2Output) error // a non-nil error fails the listing
}

func newHook(e *env) *hookS3 {
	return &hookS3{Client: e.plain, real: e.srv.Real, calls: map[string]int{}}
}

func (h *hookS3) count(op string) {
	h.mu.Lock()
	h.calls[op]++
	h.mu.Unlock()
}

func (h *hookS3) n(op string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[op]
}

func (h *hookS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	h.count("HeadObject")
	out, err := h.Client.HeadObject(ctx, in, optFns...)
	if err == nil && h.onHead != nil {
		h.onHead(out)
	}
	return out, err
}

func (h *hookS3) CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	h.count("CopyObject")
	h.mu.Lock()
	h.copies = append(h.copies, in)
	h.mu.Unlock()
	if h.beforeCopy != nil {
		h.beforeCopy(in)
	}
	if h.fakeCopy {
		return &s3.CopyObjectOutput{CopyObjectResult: &types.CopyObjectResult{ETag: aws.String(`"fake"`)}}, nil
	}
	return h.Client.CopyObject(ctx, in, optFns...)
}

func (h *hookS3) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	h.count("PutObject")
	h.mu.Lock()
	h.puts = append(h.puts, in)
	h.mu.Unlock()
	if h.beforePut != nil {
		h.beforePut(in)
	}
	return h.Client.PutObject(ctx, in, optFns...)
}

func (h *hookS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	h.count("CreateMultipartUpload")
	h.mu.Lock()
	h.creates = append(h.creates, in)
	h.mu.Unlock()
	return h.Client.CreateMultipartUpload(ctx, in, optFns...)
}

func (h *hookS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	h.count("CompleteMultipartUpload")
	return h.Client.CompleteMultipartUpload(ctx, in, optFns...)
}

func (h *hookS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	h.count("AbortMultipartUpload")
	return h.Client.AbortMultipartUpload(ctx, in, optFns...)
}

func (h *hookS3) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, optFns ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	h.count("UploadPartCopy")
	h.mu.Lock()
	h.partCopies = append(h.partCopies, in)
	h.mu.Unlock()
	if h.onPartCopy != nil {
		if err := h.onPartCopy(in); err != nil {
			return nil, err
		}
	}
	if h.real {
		return h.Client.UploadPartCopy(ctx, in, optFns...)
	}
	bucket, rawKey, _ := strings.Cut(aws.ToString(in.CopySource), "/")
	key, err := url.PathUnescape(rawKey)
	if err != nil {
		return nil, err
	}
	get, err := h.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: in.CopySourceRange})
	if err != nil {
		return nil, err
	}
	defer get.Body.Close()
	part, err := io.ReadAll(get.Body)
	if err != nil {
		return nil, err
	}
	up, err := h.Client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: in.Bucket, Key: in.Key, UploadId: in.UploadId, PartNumber: in.PartNumber,
		Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
	}, optFns...)
	if err != nil {
		return nil, err
	}
	return &s3.UploadPartCopyOutput{CopyPartResult: &types.CopyPartResult{ETag: up.ETag}}, nil
}

func (h *hookS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	h.count("ListObjectsV2")
	if h.listMaxKeys > 0 {
		c := *in
		c.MaxKeys = aws.Int32(h.listMaxKeys)
		in = &c
	}
	out, err := h.Client.ListObjectsV2(ctx, in, optFns...)
	if err == nil && h.onList != nil {
		err = h.onList(out)
	}
	return out, err
}

// hclient returns an encryption client over h.
func (e *env) hclient(h *hookS3, kr materials.Keyring, optFns ...func(*encryptionclient.Options)) *encryptionclient.Client {
	e.t.Helper()
	c, err := encryptionclient.New(h, kr, optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// reader returns a client that reads V2 and V3 objects with kr.
func (e *env) reader(kr materials.Keyring) *encryptionclient.Client {
	return e.client(kr, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt })
}

func (e *env) head(key string) *s3.HeadObjectOutput {
	e.t.Helper()
	out, err := e.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

var (
	rsa2Once sync.Once
	rsa2Key  *rsa.PrivateKey
)

// newKeyrings returns keyrings of each kind with other keys than e.krs:
// another KMS key of the same test server, another AES key, another RSA
// key pair (encrypt-only, as a writer that rotates for a reader might
// hold), each with its own material description.
func (e *env) newKeyrings(t *testing.T) (wrap map[string]materials.Keyring, read map[string]materials.Keyring) {
	t.Helper()
	rsa2Once.Do(func() {
		var err error
		if rsa2Key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	kmsKR, err := materials.NewKMSKeyring(e.kms.Client(), e.kms.CreateKey())
	if err != nil {
		t.Fatal(err)
	}
	aesKR, err := materials.NewAESKeyring(randBytes(t, 32), func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"purpose": "test", "generation": "2"}
	})
	if err != nil {
		t.Fatal(err)
	}
	desc := func(o *materials.RSAKeyringOptions) { o.MaterialDescription = map[string]string{"rsa": "2"} }
	rsaPub, err := materials.NewRSAKeyring(&rsa2Key.PublicKey, nil, desc)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := materials.NewRSAKeyring(nil, rsa2Key, desc)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]materials.Keyring{"kms": kmsKR, "aes": aesKR, "rsa": rsaPub},
		map[string]materials.Keyring{"kms": kmsKR, "aes": aesKR, "rsa": rsaPriv}
}

var v3ContentKeys = []string{"x-amz-c", "x-amz-d", "x-amz-i"}

// Every pair of keyring kinds, V2 and V3, envelope in the metadata or in an
// instruction file: the content and the V3 content keys stay, the object
// reads with the new keyring and not with the old one.
func TestRewrapEveryKeyringPair(t *testing.T) {
	e := newEnv(t)
	if e.realKMS {
		t.Skip("needs two KMS keys of the test server")
	}
	newWrap, newRead := e.newKeyrings(t)
	formats := map[string]envelope.CommitmentPolicy{"v3": envelope.RequireEncryptRequireDecrypt, "v2": envelope.ForbidEncryptAllowDecrypt}
	storages := map[string]encryptionclient.EnvelopeStorage{"meta": encryptionclient.StoreMetadata, "instr": encryptionclient.StoreInstructionFile}
	for _, from := range []string{"kms", "aes", "rsa"} {
		for _, to := range []string{"kms", "aes", "rsa"} {
			for fName, policy := range formats {
				for sName, storage := range storages {
					key := fmt.Sprintf("pair/%s-%s/%s/%s", from, to, fName, sName)
					t.Run(key, func(t *testing.T) {
						testRewrapPair(t, e, key, e.krs[from], newWrap[to], newRead[to], policy, storage, from == "kms" && to == "kms")
					})
				}
			}
		}
	}
}

func testRewrapPair(t *testing.T, e *env, key string, oldKR, newKR, newReadKR materials.Keyring, policy envelope.CommitmentPolicy, storage encryptionclient.EnvelopeStorage, kmsToKMS bool) {
	writer := e.client(oldKR, func(o *encryptionclient.Options) { o.CommitmentPolicy = policy; o.EnvelopeStorage = storage })
	data := randBytes(t, 3000)
	if err := e.put(writer, context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	bodyBefore, metaBefore, err := e.raw(key)
	if err != nil {
		t.Fatal(err)
	}
	etagBefore := aws.ToString(e.head(key).ETag)

	h := newHook(e)
	// The re-wrap applies the client's commitment policy as a read does: a
	// V2 object needs one that reads V2.
	c := e.hclient(h, oldKR, func(o *encryptionclient.Options) {
		o.EnvelopeStorage = storage
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
	})
	e.kms.ResetCalls()
	out, err := c.Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String(key), Keyring: newKR})
	if err != nil {
		t.Fatal(err)
	}
	if kmsToKMS {
		if e.kms.Calls("ReEncrypt") != 1 || e.kms.Calls("Decrypt") != 0 || e.kms.Calls("Encrypt") != 0 {
			t.Fatalf("KMS to KMS: %d ReEncrypt, %d Decrypt, %d Encrypt calls; want 1, 0, 0", e.kms.Calls("ReEncrypt"), e.kms.Calls("Decrypt"), e.kms.Calls("Encrypt"))
		}
		if out.SourceKeyID != e.keyARN || out.KeyID == "" || out.KeyID == e.keyARN {
			t.Fatalf("KMS keys reported: %q -> %q", out.SourceKeyID, out.KeyID)
		}
	} else if e.kms.Calls("ReEncrypt") != 0 {
		t.Fatal("ReEncrypt used for a pair that is not KMS to KMS")
	}
	wantFormat := envelope.FormatV3
	if policy == envelope.ForbidEncryptAllowDecrypt {
		wantFormat = envelope.FormatV2
	}
	if out.Format != wantFormat || out.InstructionFile != (storage == encryptionclient.StoreInstructionFile) || out.From == "" || out.To == "" || out.Multipart {
		t.Fatalf("output %+v", out)
	}

	bodyAfter, metaAfter, err := e.raw(key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bodyAfter, bodyBefore) {
		t.Fatal("the ciphertext changed")
	}
	if wantFormat == envelope.FormatV3 {
		for _, k := range v3ContentKeys {
			if metaAfter[k] == "" || metaAfter[k] != metaBefore[k] {
				t.Fatalf("%s changed: %q -> %q", k, metaBefore[k], metaAfter[k])
			}
		}
	}

	if storage == encryptionclient.StoreInstructionFile {
		// Only the instruction file was rewritten.
		if h.n("CopyObject") != 0 || h.n("PutObject") != 1 || aws.ToString(h.puts[0].Key) != key+".instruction" {
			t.Fatalf("calls %v", h.calls)
		}
		if !maps.Equal(metaAfter, metaBefore) || aws.ToString(e.head(key).ETag) != etagBefore {
			t.Fatal("the object itself was rewritten")
		}
		if h.puts[0].IfMatch == nil {
			t.Fatal("the instruction file was rewritten unconditionally")
		}
		instr, _, err := e.raw(key + ".instruction")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(instr, &m); err != nil {
			t.Fatal(err)
		}
		if wantFormat == envelope.FormatV3 {
			for _, k := range v3ContentKeys {
				if _, ok := m[k]; ok {
					t.Fatalf("V3 instruction file holds %s", k)
				}
			}
		}
	} else {
		if h.n("CopyObject") != 1 || h.n("PutObject") != 0 {
			t.Fatalf("calls %v", h.calls)
		}
		cp := h.copies[0]
		checkRewrappedMetadata(t, metaBefore, cp.Metadata, wantFormat)
		if cp.MetadataDirective != types.MetadataDirectiveReplace || aws.ToString(cp.CopySourceIfMatch) != etagBefore {
			t.Fatalf("copy not conditional on the ETag read: %+v", cp)
		}
		if e.srv.Real && !maps.Equal(metaAfter, cp.Metadata) {
			t.Fatalf("stored metadata %v, sent %v", metaAfter, cp.Metadata)
		}
	}

	// On the in-process server a V3 copy that swaps x-amz-m and x-amz-t
	// leaves the old one beside the new (it merges metadata on REPLACE),
	// which no reader accepts: only real servers store what was sent.
	_, oldHasT := metaBefore["x-amz-t"]
	_, newHasT := h.copiesMeta("x-amz-t")
	if storage == encryptionclient.StoreMetadata && wantFormat == envelope.FormatV3 && oldHasT != newHasT && !e.srv.Real {
		return
	}
	if got, err := e.get(e.reader(newReadKR), context.Background(), key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with the new keyring: %v", err)
	}
	if _, err := e.get(e.reader(oldKR), context.Background(), key); err == nil {
		t.Fatal("the old keyring still reads the object")
	}
}

// copiesMeta returns a value of the first recorded copy's metadata.
func (h *hookS3) copiesMeta(k string) (string, bool) {
	if len(h.copies) == 0 {
		return "", false
	}
	v, ok := h.copies[0].Metadata[k]
	return v, ok
}

// checkRewrappedMetadata checks a REPLACE copy's metadata: every entry but
// the wrapped key's kept as read, and exactly the wrapped-key entries of the
// new envelope.
func checkRewrappedMetadata(t *testing.T, before, after map[string]string, f envelope.Format) {
	t.Helper()
	wrapped := []string{"x-amz-key-v2", "x-amz-wrap-alg", "x-amz-matdesc"}
	if f == envelope.FormatV3 {
		wrapped = []string{"x-amz-3", "x-amz-w", "x-amz-t", "x-amz-m"}
	}
	for k, v := range before {
		if !slices.Contains(wrapped, k) && after[k] != v {
			t.Errorf("metadata %s: %q -> %q", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok && !slices.Contains(wrapped, k) {
			t.Errorf("metadata %s added", k)
		}
	}
	if _, err := envelope.Decode(after, nil); err != nil {
		t.Errorf("the new metadata does not decode: %v", err)
	}
}

// The copy keeps user metadata, content headers and tags; only the wrapped
// key changes.
func TestRewrapKeepsHeadersMetadataAndTags(t *testing.T) {
	e := newEnv(t)
	old, newKR := e.krs["aes"], mustAES(t, map[string]string{"purpose": "test", "generation": "2"})
	expires := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	user := map[string]string{"owner": "alice", "project": "x"}
	c := e.client(old)
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("headers"), Body: bytes.NewReader([]byte("content")),
		Metadata: user, ContentType: aws.String("text/plain"), CacheControl: aws.String("max-age=60"),
		ContentDisposition: aws.String(`attachment; filename="a.txt"`), ContentEncoding: aws.String("identity"),
		ContentLanguage: aws.String("de"), Expires: &expires, WebsiteRedirectLocation: aws.String("/elsewhere"),
		Tagging: aws.String("team=blue&tier=gold"),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newHook(e)
	var before *s3.HeadObjectOutput
	h.onHead = func(o *s3.HeadObjectOutput) { before = o }
	if _, err := e.hclient(h, old).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("headers"), Keyring: newKR}); err != nil {
		t.Fatal(err)
	}
	// What HeadObject reported rides on the copy (the in-process server
	// reports fewer headers than a real one).
	cp := h.copies[0]
	for name, f := range map[string][2]*string{
		"Content-Type":        {cp.ContentType, before.ContentType},
		"Cache-Control":       {cp.CacheControl, before.CacheControl},
		"Content-Disposition": {cp.ContentDisposition, before.ContentDisposition},
		"Content-Encoding":    {cp.ContentEncoding, before.ContentEncoding},
		"Content-Language":    {cp.ContentLanguage, before.ContentLanguage},
		"Website-Redirect":    {cp.WebsiteRedirectLocation, before.WebsiteRedirectLocation},
	} {
		if aws.ToString(f[0]) != aws.ToString(f[1]) {
			t.Errorf("%s: copy sends %q, the object has %q", name, aws.ToString(f[0]), aws.ToString(f[1]))
		}
	}
	if cp.TaggingDirective != types.TaggingDirectiveCopy {
		t.Errorf("TaggingDirective %q", cp.TaggingDirective)
	}
	if before.ExpiresString != nil && (cp.Expires == nil || !cp.Expires.Equal(expires)) {
		t.Errorf("Expires %v, want %v", cp.Expires, expires)
	}
	after := e.head("headers")
	for k, v := range user {
		if after.Metadata[k] != v {
			t.Errorf("user metadata %s: %q", k, after.Metadata[k])
		}
	}
	if aws.ToString(after.ContentType) != "text/plain" || aws.ToString(after.ContentDisposition) != `attachment; filename="a.txt"` {
		t.Errorf("stored headers changed: %+v", after)
	}
	if e.srv.Real {
		if !maps.Equal(after.Metadata, cp.Metadata) {
			t.Errorf("stored metadata %v, sent %v", after.Metadata, cp.Metadata)
		}
		for name, f := range map[string][2]string{
			"Cache-Control":    {aws.ToString(after.CacheControl), "max-age=60"},
			"Content-Language": {aws.ToString(after.ContentLanguage), "de"},
			"Content-Encoding": {aws.ToString(after.ContentEncoding), "identity"},
			"Expires":          {aws.ToString(after.ExpiresString), aws.ToString(before.ExpiresString)},
			"Website-Redirect": {aws.ToString(after.WebsiteRedirectLocation), aws.ToString(before.WebsiteRedirectLocation)},
		} {
			if f[0] != f[1] {
				t.Errorf("%s after the re-wrap: %q, want %q", name, f[0], f[1])
			}
		}
		tags, err := e.plain.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &e.bucket, Key: aws.String("headers")})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tg := range tags.TagSet {
			got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if !maps.Equal(got, map[string]string{"team": "blue", "tier": "gold"}) {
			t.Errorf("tags after the re-wrap: %v", got)
		}
	}
	if got, err := e.get(e.client(newKR), context.Background(), "headers"); err != nil || string(got) != "content" {
		t.Fatalf("read: %q %v", got, err)
	}
}

func mustAES(t *testing.T, desc map[string]string) *materials.AESKeyring {
	t.Helper()
	kr, err := materials.NewAESKeyring(randBytes(t, 32), func(o *materials.AESKeyringOptions) { o.MaterialDescription = desc })
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// Server-side encryption, storage class and object-lock settings that
// HeadObject reports ride on the copy.
func TestRewrapKeepsSSEStorageClassAndObjectLock(t *testing.T) {
	e := newEnv(t)
	old := e.krs["aes"]
	if err := e.put(e.client(old), context.Background(), "sse", []byte("x")); err != nil {
		t.Fatal(err)
	}
	retain := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	h := newHook(e)
	h.onHead = func(o *s3.HeadObjectOutput) {
		o.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		o.SSEKMSKeyId = aws.String("arn:aws:kms:us-east-1:111122223333:key/sse")
		o.BucketKeyEnabled = aws.Bool(true)
		o.StorageClass = types.StorageClassStandardIa
		o.ObjectLockMode = types.ObjectLockModeGovernance
		o.ObjectLockRetainUntilDate = &retain
		o.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn
	}
	h.fakeCopy = true
	if _, err := e.hclient(h, old).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("sse"), Keyring: mustAES(t, nil)}); err != nil {
		t.Fatal(err)
	}
	cp := h.copies[0]
	if cp.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(cp.SSEKMSKeyId) != "arn:aws:kms:us-east-1:111122223333:key/sse" ||
		!aws.ToBool(cp.BucketKeyEnabled) || cp.StorageClass != types.StorageClassStandardIa ||
		cp.ObjectLockMode != types.ObjectLockModeGovernance || !cp.ObjectLockRetainUntilDate.Equal(retain) ||
		cp.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn {
		t.Fatalf("copy input drops settings: %+v", cp)
	}
}

// The new wrapping key must differ from the old one.
func TestRewrapEnforcesRotation(t *testing.T) {
	e := newEnv(t)
	if e.realKMS {
		t.Skip("needs the KMS test server")
	}
	e.kms.CreateAlias("alias/current", e.keyARN)
	aliasKR, err := materials.NewKMSKeyring(e.kms.Client(), "alias/current")
	if err != nil {
		t.Fatal(err)
	}
	rsaKR := e.krs["rsa"]
	samePairNewDesc, err := materials.NewRSAKeyring(nil, rsaKey, func(o *materials.RSAKeyringOptions) { o.MaterialDescription = map[string]string{"renamed": "1"} })
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ old, new materials.Keyring }{
		"kms same key":                  {e.krs["kms"], e.krs["kms"]},
		"kms same key through an alias": {e.krs["kms"], aliasKR},
		"aes same keyring":              {e.krs["aes"], e.krs["aes"]},
		"rsa same keyring":              {rsaKR, rsaKR},
		"rsa same key pair, other desc": {rsaKR, samePairNewDesc},
	} {
		key := "same/" + strings.ReplaceAll(name, " ", "-")
		if err := e.put(e.client(c.old), context.Background(), key, []byte("x")); err != nil {
			t.Fatal(err)
		}
		h := newHook(e)
		_, err := e.hclient(h, c.old).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String(key), Keyring: c.new})
		if !errors.Is(err, encryptionclient.ErrSameWrappingKey) {
			t.Errorf("%s: got %v, want ErrSameWrappingKey", name, err)
		}
		var oe *encryptionclient.ObjectError
		if !errors.As(err, &oe) || oe.Op != "Rewrap" || oe.Key != key {
			t.Errorf("%s: error %v is not an ObjectError naming the object", name, err)
		}
		if h.n("CopyObject")+h.n("PutObject") != 0 {
			t.Errorf("%s: wrote %v", name, h.calls)
		}
	}

	// AllowSameKey re-binds the context under the same KMS key.
	kms := e.krs["kms"]
	if err := e.put(e.client(kms), context.Background(), "recontext", []byte("x")); err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"tenant": "acme"}
	out, err := e.client(kms).Rewrap(context.Background(), &encryptionclient.RewrapInput{
		Bucket: &e.bucket, Key: aws.String("recontext"), Keyring: kms, AllowSameKey: true, EncryptionContext: ec,
	})
	if err != nil || out.SourceKeyID != out.KeyID {
		t.Fatalf("AllowSameKey: %+v %v", out, err)
	}
	if got, err := e.get(e.client(kms), encryptionclient.WithEncryptionContext(context.Background(), ec), "recontext"); err != nil || string(got) != "x" {
		t.Fatalf("read with the new context: %v", err)
	}
	if _, err := e.get(e.client(kms), context.Background(), "recontext"); !errors.Is(err, encryptionclient.ErrContextMismatch) {
		t.Fatalf("read without the new context: %v", err)
	}
}

// A concurrent write between the read and the rewrite is never
// overwritten.
func TestRewrapIsConditional(t *testing.T) {
	e := newEnv(t)
	old, newKR := e.krs["aes"], mustAES(t, map[string]string{"g": "2"})
	// Metadata envelope: the copy is conditional on the ETag read.
	if err := e.put(e.client(old), context.Background(), "race", []byte("first")); err != nil {
		t.Fatal(err)
	}
	h := newHook(e)
	h.beforeCopy = func(*s3.CopyObjectInput) {
		if err := e.put(e.client(old), context.Background(), "race", []byte("second")); err != nil {
			t.Error(err)
		}
	}
	_, err := e.hclient(h, old).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("race"), Keyring: newKR})
	if h.copies[0].CopySourceIfMatch == nil {
		t.Fatal("CopyObject without CopySourceIfMatch")
	}
	if e.srv.Real { // the in-process server ignores CopySourceIfMatch
		mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
		if got, err := e.get(e.client(old), context.Background(), "race"); err != nil || string(got) != "second" {
			t.Fatalf("the concurrent write was lost: %q %v", got, err)
		}
	}

	// Instruction file: the rewrite is conditional on its ETag.
	instr := e.client(old, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	if err := e.put(instr, context.Background(), "race-instr", []byte("first")); err != nil {
		t.Fatal(err)
	}
	h = newHook(e)
	h.beforePut = func(in *s3.PutObjectInput) {
		if err := e.put(instr, context.Background(), "race-instr", []byte("second")); err != nil {
			t.Error(err)
		}
	}
	_, err = e.hclient(h, old).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("race-instr"), Keyring: newKR})
	mustErrorIs(t, err, encryptionclient.ErrObjectChanged)
	if got, err := e.get(instr, context.Background(), "race-instr"); err != nil || string(got) != "second" {
		t.Fatalf("the concurrent write was lost: %q %v", got, err)
	}
}

// Objects above the threshold go through a multipart copy; a failed part
// aborts the upload and leaves the object as it was.
func TestRewrapMultipartCopy(t *testing.T) {
	e := newEnv(t)
	const size = 11<<20 + 123
	old := e.krs["kms"]
	newWrap, _ := e.newKeyrings(t)
	data := randBytes(t, size)
	_, err := e.client(old).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("big"), Body: bytes.NewReader(data),
		Metadata: map[string]string{"owner": "bob"}, ContentType: aws.String("application/x-big"), Tagging: aws.String("size=big"),
	})
	if err != nil {
		t.Fatal(err)
	}
	before, metaBefore, err := e.raw("big")
	if err != nil {
		t.Fatal(err)
	}
	etag := aws.ToString(e.head("big").ETag)

	// A failing part aborts.
	h := newHook(e)
	h.onPartCopy = func(in *s3.UploadPartCopyInput) error {
		if aws.ToInt32(in.PartNumber) == 2 {
			return errors.New("injected part failure")
		}
		return nil
	}
	in := &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("big"), Keyring: newWrap["kms"], MultipartThreshold: 1 << 20, PartSize: 5 << 20}
	if _, err := e.hclient(h, old).Rewrap(context.Background(), in); err == nil || !strings.Contains(err.Error(), "injected part failure") {
		t.Fatalf("failing part: %v", err)
	}
	if h.n("AbortMultipartUpload") != 1 || h.n("CompleteMultipartUpload") != 0 {
		t.Fatalf("failed copy not aborted: %v", h.calls)
	}
	if got, err := e.get(e.client(old), context.Background(), "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the object changed after a failed copy: %v", err)
	}

	h = newHook(e)
	out, err := e.hclient(h, old).Rewrap(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Multipart || h.n("UploadPartCopy") != 3 || h.n("CompleteMultipartUpload") != 1 || h.n("CopyObject") != 0 {
		t.Fatalf("output %+v, calls %v", out, h.calls)
	}
	var ranges []string
	for _, p := range h.partCopies {
		if aws.ToString(p.CopySourceIfMatch) != etag {
			t.Errorf("part %d not conditional on the ETag read", aws.ToInt32(p.PartNumber))
		}
		ranges = append(ranges, aws.ToString(p.CopySourceRange))
	}
	slices.Sort(ranges)
	want := []string{"bytes=0-5242879", "bytes=10485760-11534474", "bytes=5242880-10485759"}
	if !slices.Equal(ranges, want) {
		t.Errorf("ranges %v, want %v", ranges, want)
	}
	cr := h.creates[0]
	if aws.ToString(cr.ContentType) != "application/x-big" || cr.Metadata["owner"] != "bob" {
		t.Errorf("multipart upload does not keep headers: %+v", cr)
	}
	checkRewrappedMetadata(t, metaBefore, cr.Metadata, envelope.FormatV3)
	after, metaAfter, err := e.raw("big")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, before) {
		t.Fatal("the ciphertext changed")
	}
	for _, k := range v3ContentKeys {
		if metaAfter[k] != metaBefore[k] {
			t.Fatalf("%s changed", k)
		}
	}
	if got, err := e.get(e.client(newWrap["kms"]), context.Background(), "big"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with the new keyring: %v", err)
	}
	if e.srv.Real {
		if aws.ToString(cr.Tagging) != "size=big" {
			t.Errorf("tags not carried to the multipart copy: %q", aws.ToString(cr.Tagging))
		}
		tags, err := e.plain.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &e.bucket, Key: aws.String("big")})
		if err != nil || len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Value) != "big" {
			t.Errorf("tags after the multipart copy: %v %v", tags, err)
		}
	}
}

// An envelope that no longer fits the metadata moves to an instruction
// file; V3 content keys stay on the object.
func TestRewrapMovesLargeEnvelopeToInstructionFile(t *testing.T) {
	e := newEnv(t)
	old := e.krs["aes"]
	writer := e.client(old)
	if err := e.put(writer, context.Background(), "grow", []byte("payload")); err != nil {
		t.Fatal(err)
	}
	big := mustAES(t, map[string]string{"note": strings.Repeat("n", 1900)})
	h := newHook(e)
	out, err := e.hclient(h, old).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("grow"), Keyring: big})
	if err != nil {
		t.Fatal(err)
	}
	if !out.MovedToInstructionFile || h.n("PutObject") != 1 || h.n("CopyObject") != 1 {
		t.Fatalf("output %+v, calls %v", out, h.calls)
	}
	meta := h.copies[0].Metadata
	for _, k := range []string{"x-amz-3", "x-amz-w", "x-amz-m"} {
		if _, ok := meta[k]; ok {
			t.Fatalf("%s left on the object", k)
		}
	}
	for _, k := range v3ContentKeys {
		if meta[k] == "" {
			t.Fatalf("%s removed from the object", k)
		}
	}
	if e.srv.Real {
		if got, err := e.get(e.client(big), context.Background(), "grow"); err != nil || string(got) != "payload" {
			t.Fatalf("read: %v", err)
		}
	}
	strict := e.client(old, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreMetadata })
	if err := e.put(strict, context.Background(), "grow-strict", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err = strict.Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("grow-strict"), Keyring: big})
	mustErrorIs(t, err, encryptionclient.ErrMetadataTooLarge)
}

func TestRewrapRefusalsDryRunAndContexts(t *testing.T) {
	e := newEnv(t)
	kms, aes := e.krs["kms"], e.krs["aes"]
	newAES := mustAES(t, map[string]string{"g": "2"})
	c := e.client(kms)
	rewrap := func(ctx context.Context, in encryptionclient.RewrapInput) (*encryptionclient.RewrapOutput, error) {
		in.Bucket = &e.bucket
		return c.Rewrap(ctx, &in)
	}

	e.putRaw("plain", []byte("x"), map[string]string{"a": "b"})
	_, err := rewrap(context.Background(), encryptionclient.RewrapInput{Key: aws.String("plain"), Keyring: newAES})
	mustErrorIs(t, err, encryptionclient.ErrNotEncrypted)

	ec := map[string]string{"tenant": "acme"}
	ctx := encryptionclient.WithEncryptionContext(context.Background(), ec)
	if err := e.put(c, ctx, "ctx", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	discovery, err := materials.NewKMSDiscoveryKeyring(e.kms.Client())
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]encryptionclient.RewrapInput{
		"no key":              {Keyring: newAES},
		"no keyring":          {Key: aws.String("ctx")},
		"decrypt-only ring":   {Key: aws.String("ctx"), Keyring: discovery},
		"multi keyring":       {Key: aws.String("ctx"), Keyring: materials.NewMulti(newAES)},
		"tiny part size":      {Key: aws.String("ctx"), Keyring: newAES, PartSize: 1 << 20},
		"threshold too large": {Key: aws.String("ctx"), Keyring: newAES, MultipartThreshold: 6 << 30},
	} {
		if _, err := rewrap(ctx, in); !errors.Is(err, encryptionclient.ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrInvalidInput", name, err)
		}
	}
	// The stored context is checked when the caller gives one.
	_, err = rewrap(encryptionclient.WithEncryptionContext(context.Background(), map[string]string{"tenant": "other"}), encryptionclient.RewrapInput{Key: aws.String("ctx"), Keyring: newAES, EncryptionContext: map[string]string{}})
	mustErrorIs(t, err, encryptionclient.ErrContextMismatch)
	// A local keyring cannot keep the KMS context: it must be dropped
	// explicitly.
	_, err = rewrap(context.Background(), encryptionclient.RewrapInput{Key: aws.String("ctx"), Keyring: newAES})
	mustErrorIs(t, err, materials.ErrContextNotSupported)

	// A dry run calls KMS but writes nothing.
	h := newHook(e)
	e.kms.ResetCalls()
	out, err := e.hclient(h, kms).Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("ctx"), Keyring: newAES, EncryptionContext: map[string]string{}, DryRun: true})
	if err != nil || out.ETag != nil || out.To != envelope.WrapAESGCM {
		t.Fatalf("dry run: %+v %v", out, err)
	}
	if h.n("CopyObject")+h.n("PutObject") != 0 || (!e.realKMS && e.kms.Calls("Decrypt") != 1) {
		t.Fatalf("dry run: S3 calls %v, %d KMS Decrypt calls", h.calls, e.kms.Calls("Decrypt"))
	}
	if got, err := e.get(c, ctx, "ctx"); err != nil || string(got) != "secret" {
		t.Fatalf("after the dry run: %v", err)
	}

	// Moving KMS to AES with the context dropped.
	h = newHook(e)
	if _, err := e.hclient(h, kms).Rewrap(ctx, &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("ctx"), Keyring: newAES, EncryptionContext: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if m := h.copies[0].Metadata; m["x-amz-w"] != "02" || m["x-amz-t"] != "" || m["x-amz-m"] != `{"g":"2"}` {
		t.Fatalf("KMS to AES metadata: %v", m)
	}
	if e.srv.Real { // the in-process server keeps the old x-amz-t beside x-amz-m
		if got, err := e.get(e.client(newAES), context.Background(), "ctx"); err != nil || string(got) != "secret" {
			t.Fatalf("after KMS to AES: %v", err)
		}
	}

	// A V3 object whose wrapped key was swapped for another object's is
	// refused by its commitment: only the committed data key is re-wrapped.
	for _, k := range []string{"victim", "donor"} {
		if err := e.put(e.client(aes), context.Background(), k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	_, victim, _ := e.raw("victim")
	_, donor, _ := e.raw("donor")
	body, _, _ := e.raw("victim")
	victim["x-amz-3"] = donor["x-amz-3"]
	e.putRaw("victim", body, victim)
	_, err = e.client(aes).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("victim"), Keyring: newAES})
	mustErrorIs(t, err, encryptionclient.ErrCommitmentMismatch)
}

// Keyrings of other packages need only implement the optional interface.
type wrapOnly struct {
	materials.Keyring
	w materials.KeyWrapper
}

func (k wrapOnly) WrapDataKey(ctx context.Context, req *materials.WrapRequest) (*materials.EncryptedDataKey, error) {
	req.Replaces = nil // a keyring that checks nothing
	return k.w.WrapDataKey(ctx, req)
}

func TestRewrapThirdPartyKeyWrapperSameDescription(t *testing.T) {
	e := newEnv(t)
	aes := e.krs["aes"]
	for _, k := range []string{"tp", "tp-same"} {
		if err := e.put(e.client(aes), context.Background(), k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// The same key behind a keyring that checks nothing: its own unwrap
	// proves it already wraps the data key.
	_, err := e.client(aes).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("tp-same"), Keyring: wrapOnly{aes, aes.(materials.KeyWrapper)}})
	mustErrorIs(t, err, encryptionclient.ErrSameWrappingKey)
	// Same material description, different key: a description is not a
	// key's identity, so the object moves (a reader with only the new key
	// reads it).
	other := mustAES(t, map[string]string{"purpose": "test"})
	if _, err := e.client(aes).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("tp"), Keyring: wrapOnly{other, other}}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(e.client(other), context.Background(), "tp"); err != nil || string(got) != "x" {
		t.Fatalf("read with the new key: %q %v", got, err)
	}
}

// A V2 object of the legacy "kms" wrap (AWS SDK for Go v1 and older Java
// clients) moves to kms+context with ReEncrypt when the new keyring allows
// legacy wrapping; the object stays V2.
func TestRewrapUpgradesLegacyKMSWrap(t *testing.T) {
	e := newEnv(t)
	if e.realKMS {
		t.Skip("needs the KMS test server")
	}
	// Write the object as the legacy clients did: the whole material
	// description, kms_cmk_id included, is the KMS encryption context.
	matdesc := map[string]string{"kms_cmk_id": e.keyARN}
	gen, err := e.kms.Client().GenerateDataKey(context.Background(), &kms.GenerateDataKeyInput{
		KeyId: aws.String(e.keyARN), KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: matdesc,
	})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(gen.Plaintext)
	gcm, _ := cipher.NewGCM(block)
	iv := randBytes(t, 12)
	plaintext := []byte("written by a legacy client")
	e.putRaw("legacy", gcm.Seal(nil, iv, plaintext, nil), map[string]string{
		"x-amz-key-v2": base64.StdEncoding.EncodeToString(gen.CiphertextBlob), "x-amz-iv": base64.StdEncoding.EncodeToString(iv),
		"x-amz-matdesc": envelope.RenderDescription(matdesc), "x-amz-wrap-alg": "kms",
		"x-amz-cek-alg": "AES/GCM/NoPadding", "x-amz-tag-len": "128",
	})
	legacyOK := func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = true }
	oldKR, err := materials.NewKMSKeyring(e.kms.Client(), e.keyARN, legacyOK)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.get(e.reader(oldKR), context.Background(), "legacy"); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("legacy object does not read: %v", err)
	}
	newKey := e.kms.CreateKey()
	strict, _ := materials.NewKMSKeyring(e.kms.Client(), newKey)
	_, err = e.client(oldKR).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("legacy"), Keyring: strict})
	mustErrorIs(t, err, encryptionclient.ErrPolicy) // V2 under the default commitment policy
	_, err = e.reader(oldKR).Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("legacy"), Keyring: strict})
	mustErrorIs(t, err, encryptionclient.ErrPolicy)

	upgrade, _ := materials.NewKMSKeyring(e.kms.Client(), newKey, legacyOK)
	h := newHook(e)
	out, err := e.hclient(h, oldKR, func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }).
		Rewrap(context.Background(), &encryptionclient.RewrapInput{Bucket: &e.bucket, Key: aws.String("legacy"), Keyring: upgrade})
	if err != nil {
		t.Fatal(err)
	}
	if out.Format != envelope.FormatV2 || out.From != envelope.WrapKMS || out.To != envelope.WrapKMSContext {
		t.Fatalf("output %+v", out)
	}
	m := h.copies[0].Metadata
	if m["x-amz-wrap-alg"] != "kms+context" || m["x-amz-matdesc"] != `{"aws:x-amz-cek-alg":"AES/GCM/NoPadding"}` || m["x-amz-iv"] == "" {
		t.Fatalf("upgraded metadata %v", m)
	}
	// A reader without any legacy opt-in reads it now.
	if got, err := e.get(e.reader(strict), context.Background(), "legacy"); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("upgraded object: %v", err)
	}
}
