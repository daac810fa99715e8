package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// The Ruby interop tests run AWS's Ruby S3 Encryption Clients (aws-sdk-s3:
// Aws::S3::EncryptionV2::Client and the legacy Aws::S3::Encryption::Client)
// against the same in-process S3 server and KMS test server, through the
// batch script ruby/s3ec_jobs.rb. They need ruby with the aws-sdk-s3 and
// aws-sdk-kms gems (Debian: ruby ruby-aws-sdk-s3 ruby-aws-sdk-kms); without
// them they skip, unless S3EC_REQUIRE_RUBY=1 (set by scripts/ruby-interop.sh
// in CI), which makes a missing Ruby a failure.

const envRequireRuby = "S3EC_REQUIRE_RUBY"

// rubySizes are the plaintext sizes of every matrix: empty, one byte,
// around one AES block, and more than a MiB not on a block boundary.
var rubySizes = []int{0, 1, 15, 16, 17, 1<<20 + 3}

// rubyJob is one job of ruby/s3ec_jobs.rb (see there).
type rubyJob struct {
	Op       string            `json:"op"`
	Client   string            `json:"client"`
	Wrap     string            `json:"wrap"`
	Bucket   string            `json:"bucket"`
	Key      string            `json:"key"`
	File     string            `json:"file"`
	Location string            `json:"location,omitempty"`
	KMSKey   string            `json:"kms_key,omitempty"`
	AESKey   string            `json:"aes_key,omitempty"`
	RSAPEM   string            `json:"rsa_pem,omitempty"`
	Context  map[string]string `json:"context,omitempty"`
	Matdesc  string            `json:"matdesc,omitempty"`
	Legacy   bool              `json:"legacy,omitempty"`
}

type rubyResult struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// rubyWorld is one test's Ruby side: keys, a bucket and a scratch folder.
type rubyWorld struct {
	t      *testing.T
	h      *harness
	dir    string
	aesKey []byte
	rsaKey *rsa.PrivateKey
	rsaPEM string
}

func needRuby(t *testing.T) {
	t.Helper()
	ruby, err := exec.LookPath("ruby")
	if err == nil {
		out, lerr := exec.Command(ruby, "-e", `require "aws-sdk-s3"; require "aws-sdk-kms"`).CombinedOutput()
		if lerr != nil {
			err = fmt.Errorf("the aws-sdk-s3 and aws-sdk-kms gems do not load: %v: %s", lerr, bytes.TrimSpace(out))
		}
	}
	if err == nil {
		return
	}
	msg := fmt.Sprintf("Ruby interop needs ruby with the aws-sdk-s3 and aws-sdk-kms gems (Debian: apt-get install ruby ruby-aws-sdk-s3 ruby-aws-sdk-kms; scripts/ruby-interop.sh installs them): %v", err)
	if os.Getenv(envRequireRuby) == "1" {
		t.Fatalf("%s=1: %s", envRequireRuby, msg)
	}
	t.Skip(msg)
}

func newRubyWorld(t *testing.T) *rubyWorld {
	t.Helper()
	needRuby(t)
	w := &rubyWorld{t: t, h: newHarness(t), dir: t.TempDir(), aesKey: make([]byte, 32)}
	if _, err := rand.Read(w.aesKey); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	w.rsaPEM = filepath.Join(w.dir, "rsa.pem")
	der := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(w.rsaKey)})
	if err := os.WriteFile(w.rsaPEM, der, 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// job fills in the world's bucket and keys for wrap.
func (w *rubyWorld) job(op, client, wrap, key string) rubyJob {
	j := rubyJob{Op: op, Client: client, Wrap: wrap, Bucket: w.h.bucket, Key: key,
		File: filepath.Join(w.dir, strings.ReplaceAll(key, "/", "_")+"."+op), Location: "metadata"}
	switch wrap {
	case "kms":
		j.KMSKey = w.h.keyARN
	case "aes":
		j.AESKey = hex.EncodeToString(w.aesKey)
	case "rsa":
		j.RSAPEM = w.rsaPEM
	}
	return j
}

// run runs jobs in one Ruby process and returns their results.
func (w *rubyWorld) run(jobs []rubyJob) []rubyResult {
	w.t.Helper()
	in, out := filepath.Join(w.dir, "jobs.json"), filepath.Join(w.dir, "results.json")
	b, err := json.Marshal(jobs)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o600); err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ruby", filepath.Join("ruby", "s3ec_jobs.rb"), in, out)
	cmd.Env = append(os.Environ(),
		"S3EC_RB_S3_ENDPOINT="+s3srv.URL,
		"S3EC_RB_KMS_ENDPOINT="+kmsSrv.URL,
	)
	if msg, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("ruby s3ec_jobs.rb: %v\n%s", err, msg)
	}
	rb, err := os.ReadFile(out)
	if err != nil {
		w.t.Fatal(err)
	}
	var res []rubyResult
	if err := json.Unmarshal(rb, &res); err != nil || len(res) != len(jobs) {
		w.t.Fatalf("ruby results: %v (%d results for %d jobs)", err, len(res), len(jobs))
	}
	return res
}

// keyring is our keyring matching a Ruby wrap, with the given material
// description (aes, rsa) and legacy wrapping.
func (w *rubyWorld) keyring(wrap string, desc map[string]string, legacy bool) materials.Keyring {
	w.t.Helper()
	var kr materials.Keyring
	var err error
	switch wrap {
	case "kms":
		kr, err = materials.NewKMSKeyring(kmsSrv.Client(), w.h.keyARN, func(o *materials.KMSKeyringOptions) { o.EnableLegacyWrapping = legacy })
	case "aes":
		kr, err = materials.NewAESKeyring(w.aesKey, func(o *materials.AESKeyringOptions) {
			o.MaterialDescription, o.EnableLegacyWrapping = desc, legacy
		})
	case "rsa":
		kr, err = materials.NewRSAKeyring(&w.rsaKey.PublicKey, w.rsaKey, func(o *materials.RSAKeyringOptions) {
			o.MaterialDescription, o.EnableLegacyWrapping = desc, legacy
		})
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return kr
}

func (w *rubyWorld) client(kr materials.Keyring, optFns ...func(*encryptionclient.Options)) *encryptionclient.Client {
	w.t.Helper()
	c, err := encryptionclient.New(s3srv.Client(), kr, optFns...)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *rubyWorld) ourGet(c *encryptionclient.Client, key string, ec map[string]string) ([]byte, error) {
	ctx := context.Background()
	if ec != nil {
		ctx = encryptionclient.WithEncryptionContext(ctx, ec)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.h.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (w *rubyWorld) ourPut(c *encryptionclient.Client, key string, data []byte, ec map[string]string) {
	w.t.Helper()
	ctx := context.Background()
	if ec != nil {
		ctx = encryptionclient.WithEncryptionContext(ctx, ec)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.h.bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		w.t.Fatalf("s3ec-go PutObject %s: %v", key, err)
	}
}

func (w *rubyWorld) data(key string, n int) ([]byte, string) {
	w.t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		w.t.Fatal(err)
	}
	f := filepath.Join(w.dir, strings.ReplaceAll(key, "/", "_")+".plain")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return b, f
}

// rawMeta returns what S3 stores as key's user metadata.
func (w *rubyWorld) rawMeta(key string) map[string]string {
	w.t.Helper()
	out, err := w.h.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(w.h.bucket), Key: aws.String(key)})
	if err != nil {
		w.t.Fatalf("HeadObject %s: %v", key, err)
	}
	return out.Metadata
}

func (w *rubyWorld) flipByte(key string, at int) {
	w.t.Helper()
	ctx := context.Background()
	out, err := w.h.plain.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.h.bucket), Key: aws.String(key)})
	if err != nil {
		w.t.Fatal(err)
	}
	body, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		w.t.Fatal(err)
	}
	body[at%len(body)] ^= 0x01
	if _, err := w.h.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.h.bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), Metadata: out.Metadata}); err != nil {
		w.t.Fatal(err)
	}
}

var (
	rubyContext = map[string]string{"tenant": "ruby", "purpose": "interop"}
	rubyMatdesc = map[string]string{"purpose": "ruby-interop"}
)

const rubyMatdescJSON = `{"purpose":"ruby-interop"}`

// TestRubyV2WritesWeRead: the Ruby V2 client writes (kms+context with a
// context, AES/GCM with a material description, RSA-OAEP-SHA1; envelope in
// the metadata and in an instruction file; every size); we read.
func TestRubyV2WritesWeRead(t *testing.T) {
	w := newRubyWorld(t)
	type want struct {
		key, wrap, location string
		data                []byte
	}
	var jobs []rubyJob
	var wants []want
	for _, wrap := range []string{"kms", "aes", "rsa"} {
		for _, loc := range []string{"metadata", "instruction_file"} {
			for _, n := range rubySizes {
				key := fmt.Sprintf("ruby-v2/%s/%s/%d", wrap, loc, n)
				data, file := w.data(key, n)
				j := w.job("put", "v2", wrap, key)
				j.File, j.Location = file, loc
				if wrap == "kms" {
					j.Context = rubyContext
				} else {
					j.Matdesc = rubyMatdescJSON
				}
				jobs = append(jobs, j)
				wants = append(wants, want{key, wrap, loc, data})
			}
		}
	}
	for i, r := range w.run(jobs) {
		if !r.OK {
			t.Fatalf("ruby put %s: %s: %s", jobs[i].Key, r.Error, r.Message)
		}
	}
	for _, wt := range wants {
		meta := w.rawMeta(wt.key)
		if wt.location == "metadata" {
			wantWrap := map[string]string{"kms": "kms+context", "aes": "AES/GCM", "rsa": "RSA-OAEP-SHA1"}[wt.wrap]
			if meta["x-amz-wrap-alg"] != wantWrap || meta["x-amz-cek-alg"] != "AES/GCM/NoPadding" || meta["x-amz-key-v2"] == "" {
				t.Fatalf("%s: Ruby stored metadata %v, want a V2 %s envelope", wt.key, meta, wantWrap)
			}
		} else if meta["x-amz-key-v2"] != "" {
			t.Fatalf("%s: Ruby put the key in the metadata, want an instruction file", wt.key)
		}
		var ec map[string]string
		if wt.wrap == "kms" {
			ec = rubyContext
		}
		c := w.client(w.keyring(wt.wrap, rubyMatdesc, false), func(o *encryptionclient.Options) {
			o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
		})
		got, err := w.ourGet(c, wt.key, ec)
		if err != nil {
			t.Fatalf("s3ec-go reading Ruby's %s: %v", wt.key, err)
		}
		if !bytes.Equal(got, wt.data) {
			t.Fatalf("s3ec-go reading Ruby's %s: %d bytes differ from the %d written", wt.key, len(got), len(wt.data))
		}
	}
	// The strictest policy refuses them: V2 does not commit to its key.
	c := w.client(w.keyring("aes", rubyMatdesc, false))
	if _, err := w.ourGet(c, "ruby-v2/aes/metadata/17", nil); !errors.Is(err, encryptionclient.ErrPolicy) {
		t.Fatalf("RequireEncryptRequireDecrypt reading Ruby's V2 object: %v, want ErrPolicy", err)
	}
}

// TestWeWriteRubyV2Reads: we write V2 (ForbidEncryptAllowDecrypt) with each
// keyring, in the metadata and in an instruction file; Ruby's V2 client
// reads.
func TestWeWriteRubyV2Reads(t *testing.T) {
	w := newRubyWorld(t)
	var jobs []rubyJob
	var datas [][]byte
	for _, wrap := range []string{"kms", "aes", "rsa"} {
		for _, storage := range []encryptionclient.EnvelopeStorage{encryptionclient.StoreMetadata, encryptionclient.StoreInstructionFile} {
			c := w.client(w.keyring(wrap, rubyMatdesc, false), func(o *encryptionclient.Options) {
				o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt
				o.EnvelopeStorage = storage
			})
			loc := map[encryptionclient.EnvelopeStorage]string{encryptionclient.StoreMetadata: "metadata", encryptionclient.StoreInstructionFile: "instruction_file"}[storage]
			for _, n := range rubySizes {
				key := fmt.Sprintf("ours-v2/%s/%s/%d", wrap, loc, n)
				data, _ := w.data(key, n)
				var ec map[string]string
				if wrap == "kms" {
					ec = rubyContext
				}
				w.ourPut(c, key, data, ec)
				j := w.job("get", "v2", wrap, key)
				j.Location, j.Context = loc, ec
				jobs = append(jobs, j)
				datas = append(datas, data)
			}
		}
	}
	for i, r := range w.run(jobs) {
		if !r.OK {
			t.Fatalf("Ruby V2 reading our %s: %s: %s", jobs[i].Key, r.Error, r.Message)
		}
		got, err := os.ReadFile(jobs[i].File)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, datas[i]) {
			t.Fatalf("Ruby V2 reading our %s: %d bytes differ from the %d written", jobs[i].Key, len(got), len(datas[i]))
		}
	}
}

// TestRubyV1WritesWeRead: the legacy Ruby client writes (AES-CBC content;
// data key wrapped by KMS "kms", AES/ECB or RSA PKCS#1 v1.5); we read with
// the legacy opt-ins, and refuse without them.
func TestRubyV1WritesWeRead(t *testing.T) {
	w := newRubyWorld(t)
	var jobs []rubyJob
	var datas [][]byte
	for _, wrap := range []string{"kms", "aes", "rsa"} {
		for _, loc := range []string{"metadata", "instruction_file"} {
			for _, n := range rubySizes {
				key := fmt.Sprintf("ruby-v1/%s/%s/%d", wrap, loc, n)
				data, file := w.data(key, n)
				j := w.job("put", "v1", wrap, key)
				j.File, j.Location = file, loc
				jobs = append(jobs, j)
				datas = append(datas, data)
			}
		}
	}
	for i, r := range w.run(jobs) {
		if !r.OK {
			t.Fatalf("ruby v1 put %s: %s: %s", jobs[i].Key, r.Error, r.Message)
		}
	}
	legacy := func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
		o.EnableLegacyUnauthenticatedModes = true
	}
	for i, j := range jobs {
		if j.Location == "metadata" {
			meta := w.rawMeta(j.Key)
			if j.Wrap == "kms" && (meta["x-amz-wrap-alg"] != "kms" || meta["x-amz-cek-alg"] != "AES/CBC/PKCS5Padding") {
				t.Fatalf("%s: Ruby V1 stored %v, want a kms AES/CBC envelope", j.Key, meta)
			}
			if j.Wrap != "kms" && meta["x-amz-key"] == "" {
				t.Fatalf("%s: Ruby V1 stored %v, want a V1 x-amz-key envelope", j.Key, meta)
			}
		}
		got, err := w.ourGet(w.client(w.keyring(j.Wrap, nil, true), legacy), j.Key, nil)
		if err != nil {
			t.Fatalf("s3ec-go reading Ruby V1's %s: %v", j.Key, err)
		}
		if !bytes.Equal(got, datas[i]) {
			t.Fatalf("s3ec-go reading Ruby V1's %s: %d bytes differ from the %d written", j.Key, len(got), len(datas[i]))
		}
	}
	// Without the opt-ins: a policy error, not plaintext.
	for _, wrap := range []string{"kms", "aes", "rsa"} {
		key := fmt.Sprintf("ruby-v1/%s/metadata/17", wrap)
		noModes := w.client(w.keyring(wrap, nil, true), func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt })
		if _, err := w.ourGet(noModes, key, nil); !errors.Is(err, encryptionclient.ErrPolicy) {
			t.Fatalf("reading Ruby V1's %s without EnableLegacyUnauthenticatedModes: %v, want ErrPolicy", key, err)
		}
		noWrap := w.client(w.keyring(wrap, nil, false), legacy)
		if _, err := w.ourGet(noWrap, key, nil); !errors.Is(err, encryptionclient.ErrPolicy) {
			t.Fatalf("reading Ruby V1's %s without EnableLegacyWrapping: %v, want ErrPolicy", key, err)
		}
	}
}

// TestRubyNegatives: a wrong context, a wrong key and a flipped byte fail
// both ways: a typed error on our side, an exception on Ruby's.
func TestRubyNegatives(t *testing.T) {
	w := newRubyWorld(t)
	const n = 1000
	// Ruby writes, we read wrongly.
	var puts []rubyJob
	for _, wrap := range []string{"kms", "aes", "rsa"} {
		for _, which := range []string{"ctx", "key", "flip"} {
			key := fmt.Sprintf("neg-ruby/%s/%s", wrap, which)
			_, file := w.data(key, n)
			j := w.job("put", "v2", wrap, key)
			j.File = file
			if wrap == "kms" {
				j.Context = rubyContext
			} else {
				j.Matdesc = rubyMatdescJSON
			}
			puts = append(puts, j)
		}
	}
	for i, r := range w.run(puts) {
		if !r.OK {
			t.Fatalf("ruby put %s: %s: %s", puts[i].Key, r.Error, r.Message)
		}
	}
	allow := func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt }
	other := newRubyWorld(t) // other keys, same servers
	for _, wrap := range []string{"kms", "aes", "rsa"} {
		var ec map[string]string
		if wrap == "kms" {
			ec = rubyContext
		}
		right := w.client(w.keyring(wrap, rubyMatdesc, false), allow)
		// Wrong context (KMS only: AES and RSA keyrings carry none).
		if wrap == "kms" {
			_, err := w.ourGet(right, "neg-ruby/kms/ctx", map[string]string{"tenant": "other", "purpose": "interop"})
			if !errors.Is(err, encryptionclient.ErrContextMismatch) {
				t.Fatalf("kms wrong context: %v, want ErrContextMismatch", err)
			}
		}
		// Wrong key.
		wrong := w.client(other.keyring(wrap, rubyMatdesc, false), allow)
		if _, err := w.ourGet(wrong, "neg-ruby/"+wrap+"/key", ec); !errors.Is(err, encryptionclient.ErrUnwrap) {
			t.Fatalf("%s wrong key: %v, want ErrUnwrap", wrap, err)
		}
		// A flipped ciphertext byte.
		w.flipByte("neg-ruby/"+wrap+"/flip", 7)
		if _, err := w.ourGet(right, "neg-ruby/"+wrap+"/flip", ec); !errors.Is(err, encryptionclient.ErrAuthentication) {
			t.Fatalf("%s flipped byte: %v, want ErrAuthentication", wrap, err)
		}
	}

	// We write, Ruby reads wrongly.
	var gets []rubyJob
	for _, wrap := range []string{"kms", "aes", "rsa"} {
		var ec map[string]string
		if wrap == "kms" {
			ec = rubyContext
		}
		c := w.client(w.keyring(wrap, rubyMatdesc, false), func(o *encryptionclient.Options) { o.CommitmentPolicy = envelope.ForbidEncryptAllowDecrypt })
		for _, which := range []string{"ctx", "key", "flip"} {
			if which == "ctx" && wrap != "kms" {
				continue
			}
			key := fmt.Sprintf("neg-ours/%s/%s", wrap, which)
			data, _ := w.data(key, n)
			w.ourPut(c, key, data, ec)
			j := w.job("get", "v2", wrap, key)
			j.Context = ec
			switch which {
			case "ctx":
				j.Context = map[string]string{"tenant": "other", "purpose": "interop"}
			case "key":
				j = other.job("get", "v2", wrap, key)
				j.Bucket, j.Context = w.h.bucket, ec
				if wrap == "kms" {
					// Ruby's V2 reader cannot name the key on Debian's
					// aws-sdk-kms (see s3ec_jobs.rb) and KMS picks the key
					// from the blob: a wrong KMS key is a wrong blob here.
					j.KMSKey = other.h.keyARN
				}
			case "flip":
				w.flipByte(key, 7)
			}
			gets = append(gets, j)
		}
	}
	for i, r := range w.run(gets) {
		j := gets[i]
		if j.Wrap == "kms" && strings.HasSuffix(j.Key, "/key") {
			// With any-CMK decryption a KMS reader's configured key is not
			// checked (see above): KMS decrypts with the key the blob
			// names, so the object is readable. This pins that quirk.
			if !r.OK {
				t.Fatalf("Ruby (any-CMK) reading %s with another configured KMS key: %s: %s", j.Key, r.Error, r.Message)
			}
			continue
		}
		if r.OK {
			t.Fatalf("Ruby read our %s (%s): want an exception", j.Key, j.Wrap)
		}
		t.Logf("Ruby reading %s: %s: %s", j.Key, r.Error, r.Message)
	}
}
