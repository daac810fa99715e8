package batchops

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

// Attack (issue 12): the job creator names another instruction-file suffix
// in an adopt job. Adopt tells an object that keeps its envelope only in
// an instruction file (V2 objects of AWS SDK Go v1's s3crypto, and their
// unmarked instruction files) by the suffix; with a suffix of the job's
// choosing it finds no envelope and encrypts both in place: the object's
// ciphertext is encrypted again and its instruction file with it, and
// every reader of the bucket's suffix loses the object. The deployment
// opted in to Adopt under its own suffix: a job must not widen what Adopt
// takes for plaintext.
func TestAttackLambdaAdoptSuffixArgument(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	kr, err := materials.NewKMSKeyring(f.kms.Client(), f.oldARN)
	if err != nil {
		t.Fatal(err)
	}
	v2 := func(o *encryptionclient.Options) { o.CommitmentPolicy = encryptionclient.ForbidEncryptAllowDecrypt }
	w, err := encryptionclient.New(f.raw, kr, v2, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	if err != nil {
		t.Fatal(err)
	}
	const key = "legacy/obj"
	if _, err := w.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: strings.NewReader("the V2 object's plaintext")}); err != nil {
		t.Fatal(err)
	}
	// As s3crypto stores it: the instruction file without the mark.
	instr, err := f.raw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key + ".instruction")})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(instr.Body)
	instr.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.raw.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key + ".instruction"), Body: strings.NewReader(string(body))}); err != nil {
		t.Fatal(err)
	}
	reader, err := encryptionclient.New(f.raw, kr, v2)
	if err != nil {
		t.Fatal(err)
	}
	readBack := func() (string, error) {
		out, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
		if err != nil {
			return "", err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return string(b), err
	}
	if got, err := readBack(); err != nil || got != "the V2 object's plaintext" {
		t.Fatalf("setup: %q, %v", got, err)
	}
	before := f.fingerprint(key)

	h := f.handler(map[string]string{EnvAllowedOperations: "adopt,inspect"})
	objs := []testObject{{key: key, encoded: "legacy%2Fobj"}, {key: key + ".instruction", encoded: "legacy%2Fobj.instruction"}}
	for _, suffix := range []string{".evil", ".INSTRUCTION"} {
		r := decodeResponse(t, invoke(t, ctx, h, eventV2(map[string]string{ArgOperation: OpAdopt, ArgInstructionFileSuffix: suffix}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
		for i, res := range r.Results {
			if res.ResultCode != "PermanentFailure" || !strings.Contains(res.ResultString, "InvalidJobConfiguration") {
				t.Errorf("suffix %s, task %s: %s %q; want the job refused", suffix, objs[i].key, res.ResultCode, res.ResultString)
			}
		}
	}
	if after := f.fingerprint(key); after != before {
		t.Errorf("the adopt job rewrote the V2 object or its instruction file:\nbefore %s\nafter  %s", before, after)
	}
	if got, err := readBack(); err != nil || got != "the V2 object's plaintext" {
		t.Fatalf("after the adopt job the V2 object reads %q, %v", got, err)
	}
	// The deployment's own suffix, named again, is fine (and still skips).
	r := decodeResponse(t, invoke(t, ctx, h, eventV2(map[string]string{ArgOperation: OpAdopt, ArgInstructionFileSuffix: ".instruction"}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "Succeeded", "skipped")
}
