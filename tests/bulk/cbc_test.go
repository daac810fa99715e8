package bulk_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// putV1CBC stores objects as the V1 clients wrote them: AES/CBC content
// (no tag) under a data key wrapped with AES/ECB by master, in the
// metadata ("x-amz-key").
func (e *env) putV1CBC(master []byte, key string, pt []byte) {
	e.t.Helper()
	dk, iv := randBytes(e.t, 32), randBytes(e.t, 16)
	content, _ := aes.NewCipher(dk)
	pad := 16 - len(pt)%16
	ct := append(bytes.Clone(pt), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(content, iv).CryptBlocks(ct, ct)
	kek, _ := aes.NewCipher(master)
	wrapped := append(bytes.Clone(dk), bytes.Repeat([]byte{16}, 16)...) // PKCS#5 padding of a 32-byte key
	for i := 0; i < len(wrapped); i += 16 {
		kek.Encrypt(wrapped[i:i+16], wrapped[i:i+16])
	}
	meta := map[string]string{
		"x-amz-key": base64.StdEncoding.EncodeToString(wrapped), "x-amz-iv": base64.StdEncoding.EncodeToString(iv),
		"x-amz-matdesc": "{}", "x-amz-unencrypted-content-length": strconv.Itoa(len(pt)),
	}
	if _, err := e.plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String(key), Body: bytes.NewReader(ct), Metadata: meta}); err != nil {
		e.t.Fatal(err)
	}
}

// A ReEncrypt job over AES-CBC (V1) sources: without
// AllowUnauthenticatedSource each is a PermanentFailure
// "UnauthenticatedSource" and nothing is written (dry run too); with it
// they become V3 objects reported as "reencrypted-unauthenticated", never
// plain "reencrypted", while a GCM source of the same job is
// "reencrypted".
func TestReEncryptCBCSourcesNeedOptIn(t *testing.T) {
	e := newEnv(t)
	master := randBytes(t, 32)
	legacy, err := materials.NewAESKeyring(master, func(o *materials.AESKeyringOptions) { o.EnableLegacyWrapping = true })
	if err != nil {
		t.Fatal(err)
	}
	target, _ := e.kmsKeyring()
	c := e.client(legacy, func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
		o.EnableLegacyUnauthenticatedModes = true
	})
	cbc := []string{"cbc/a", "cbc/b c"}
	for _, k := range cbc {
		e.putV1CBC(master, k, content(k))
	}
	gcm, _ := e.kmsKeyring()
	gcmKeys := e.putObjects(e.client(gcm), "cbc/gcm-", 1)
	mixed := e.client(materials.NewMulti(legacy, gcm), func(o *encryptionclient.Options) {
		o.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
		o.EnableLegacyUnauthenticatedModes = true
	})

	for _, dry := range []bool{true, false} {
		e.liar.Reset()
		j := mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(cbc))), bulk.ReEncrypt(c, bulk.ReEncryptParams{Keyring: target, DryRun: dry}), bulk.RunOptions{})
		for _, k := range cbc {
			r := j.results[k]
			if r.Outcome != bulk.Failed || r.Status != bulk.PermanentFailure || r.ErrorCode != "UnauthenticatedSource" {
				t.Fatalf("dry run %v, %q without the opt-in: %s %s %s (%s)", dry, k, r.Outcome, r.Status, r.ErrorCode, r.Message)
			}
		}
		if n := e.writes(); n != 0 {
			t.Fatalf("dry run %v: %d writes for refused CBC sources", dry, n)
		}
		if !strings.Contains(j.report, ",PermanentFailure,UnauthenticatedSource,") {
			t.Fatalf("report:\n%s", j.report)
		}
	}
	e.mustRead(c, cbc) // still the V1 objects

	all := append(slices.Clone(cbc), gcmKeys...)
	j := mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(all))), bulk.ReEncrypt(mixed, bulk.ReEncryptParams{Keyring: target, AllowUnauthenticatedSource: true}), bulk.RunOptions{})
	j.wantAll(t, cbc, bulk.Done, "reencrypted-unauthenticated")
	j.wantAll(t, gcmKeys, bulk.Done, "reencrypted")
	for _, k := range cbc {
		if m := j.results[k].Message; !strings.Contains(m, "not authenticated") {
			t.Fatalf("%q: message %q does not say the source was not authenticated", k, m)
		}
	}
	if j.sum.Reasons["reencrypted-unauthenticated"] != 2 || j.sum.Reasons["reencrypted"] != 1 {
		t.Fatalf("summary %v", j.sum)
	}
	// V3 now, read by a client that refuses legacy modes.
	e.mustRead(e.client(target), all)
	j = mustRun(t, bulk.ReadCSV(strings.NewReader(e.csvManifest(all))), bulk.Verify(e.client(target)), bulk.RunOptions{})
	j.wantAll(t, all, bulk.Done, "verified")
}
