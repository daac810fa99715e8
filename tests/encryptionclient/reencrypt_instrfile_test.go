package encryptionclient_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/encryptionclient"
)

func storeInstr(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile }

// ReEncrypt and Adopt into instruction-file storage, of a source that
// used no instruction file, beside an unrelated object named key+suffix:
// refused before anything is written (small and multipart), and the
// namesake stays. Without a namesake the new instruction file is written
// before the object, conditionally (If-None-Match "*"), so the object is
// never without its envelope.
func TestReEncryptIntoInstructionFileNeverOverwritesNamesake(t *testing.T) {
	e := newEnv(t)
	ctx := e.smallParts(context.Background())
	kr := e.krs["aes"]
	partSize, threshold, size := e.mpSizes()
	user := []byte("the user's own file")
	for _, n := range []int{100, size} {
		key := "ns/doc" + string(rune('0'+n%10))
		pt := randBytes(t, n)
		if err := e.put(e.client(kr), ctx, key, pt); err != nil {
			t.Fatal(err)
		}
		body, meta, _ := e.raw(key)
		e.putRaw(key+".instruction", user, map[string]string{"owner": "alice"})
		h := newRW(e)
		_, err := e.rwClient(h, kr, storeInstr).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(key), Force: true, PartSize: partSize, MultipartThreshold: threshold})
		mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
		if h.writes["PutObject"] != 0 || h.writes["CompleteMultipartUpload"] != 0 || h.writes["CreateMultipartUpload"] != 0 {
			t.Fatalf("%d bytes: writes %v", n, h.writes)
		}
		e.unchanged(key, body, meta)
		e.unchanged(key+".instruction", user, map[string]string{"owner": "alice"})

		// Without the namesake: the instruction file goes first, with
		// If-None-Match "*", and the object reads.
		if _, err := e.plain.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(key + ".instruction")}); err != nil {
			t.Fatal(err)
		}
		h = newRW(e)
		if _, err := e.rwClient(h, kr, storeInstr).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String(key), Force: true, PartSize: partSize, MultipartThreshold: threshold}); err != nil {
			t.Fatal(err)
		}
		if len(h.puts) == 0 || aws.ToString(h.puts[0].Key) != key+".instruction" || aws.ToString(h.puts[0].IfNoneMatch) != "*" {
			t.Fatalf("%d bytes: the instruction file was not written first with If-None-Match *", n)
		}
		if got, err := e.get(e.client(kr), ctx, key); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: reads %v", n, err)
		}
		if e.storedFormat(key).InstructionFileKey == "" {
			t.Fatalf("%d bytes: envelope not in the instruction file", n)
		}
	}

	// Adopt the same way.
	e.putRaw("ns/plain", []byte("plain"), nil)
	e.putRaw("ns/plain.instruction", user, nil)
	h := newRW(e)
	_, err := e.rwClient(h, kr, storeInstr).Adopt(ctx, &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String("ns/plain")})
	if err == nil || h.nWrites() != 0 {
		t.Fatalf("Adopt beside a namesake: %v, %d writes", err, h.nWrites())
	}
	e.unchanged("ns/plain.instruction", user, nil)
	e.unchanged("ns/plain", []byte("plain"), nil)
}

// The namesake appears between the HeadObject and the write of the
// instruction file: the conditional write (If-None-Match "*") refuses, and
// the object is not written at all.
func TestReEncryptInstructionFileNamesakeRace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	if err := e.put(e.client(kr), ctx, "race/doc", []byte("doc")); err != nil {
		t.Fatal(err)
	}
	body, meta, _ := e.raw("race/doc")
	h := newRW(e)
	h.beforeWrite = func(key string) {
		if key == "race/doc.instruction" {
			h.beforeWrite = nil
			e.putRaw(key, []byte("created meanwhile"), nil)
		}
	}
	_, err := e.rwClient(h, kr, storeInstr).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("race/doc"), Force: true})
	mustErrorIs(t, err, encryptionclient.ErrInstructionFileMismatch)
	if len(h.puts) != 1 {
		t.Fatalf("%d PutObject requests: the object was written after the instruction file's was refused", len(h.puts))
	}
	e.unchanged("race/doc", body, meta)
	e.unchanged("race/doc.instruction", []byte("created meanwhile"), nil)
}

// A source whose envelope is in its instruction file, re-encrypted into
// instruction-file storage: the new instruction file replaces the one read,
// conditionally on its ETag.
func TestReEncryptReplacesReadInstructionFileConditionally(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	if err := e.put(e.client(kr, storeInstr), ctx, "cond/doc", []byte("doc")); err != nil {
		t.Fatal(err)
	}
	old, err := e.plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("cond/doc.instruction")})
	if err != nil {
		t.Fatal(err)
	}
	h := newRW(e)
	if _, err := e.rwClient(h, kr, storeInstr).ReEncrypt(ctx, &encryptionclient.ReEncryptInput{Bucket: &e.bucket, Key: aws.String("cond/doc"), Force: true}); err != nil {
		t.Fatal(err)
	}
	var instrPut *s3.PutObjectInput
	for _, p := range h.puts {
		if aws.ToString(p.Key) == "cond/doc.instruction" {
			instrPut = p
		}
	}
	if instrPut == nil || aws.ToString(instrPut.IfMatch) != aws.ToString(old.ETag) {
		t.Fatalf("the instruction file was not replaced conditionally on the ETag read (%s)", aws.ToString(old.ETag))
	}
	if got, err := e.get(e.client(kr), ctx, "cond/doc"); err != nil || string(got) != "doc" {
		t.Fatalf("reads %q, %v", got, err)
	}
}

// Unmarked instruction files (AWS SDK Go v1's s3crypto) are told by their
// content: IsInstructionFile reports them, Adopt refuses them
// (ErrAlreadyEncrypted) and DeleteObject removes one with its object; an
// unmarked file that is no envelope stays an object of its own.
func TestUnmarkedInstructionFileToldByContent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kr := e.krs["aes"]
	c := e.client(kr)
	instr := e.v2InstructionFile(kr, "um/v2", []byte("v2"))
	e.putRaw("um/v2.instruction", instr, nil)
	is := func(key string) bool {
		t.Helper()
		ok, err := c.IsInstructionFile(ctx, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !is("um/v2.instruction") {
		t.Fatal("an unmarked instruction file was not recognized")
	}
	h := newRW(e)
	_, err := e.rwClient(h, kr).Adopt(ctx, &encryptionclient.AdoptInput{Bucket: &e.bucket, Key: aws.String("um/v2.instruction")})
	mustErrorIs(t, err, encryptionclient.ErrAlreadyEncrypted)
	if h.nWrites() != 0 {
		t.Fatalf("%d writes", h.nWrites())
	}
	// Beside a plaintext object, a file that is no envelope is an object.
	e.putRaw("um/plain", []byte("plain"), nil)
	e.putRaw("um/plain.instruction", []byte(`{"not":"an envelope"}`), nil)
	if is("um/plain.instruction") {
		t.Fatal("an unrelated JSON file counted as an instruction file")
	}
	// A file larger than any instruction file is not read.
	e.putRaw("um/big.instruction", bytes.Repeat([]byte{'x'}, 65<<10), nil)
	e.putRaw("um/big", []byte("plain"), nil)
	if is("um/big.instruction") {
		t.Fatal("a 65 KiB object counted as an instruction file")
	}
	// DeleteObject removes the unmarked instruction file with its object,
	// and leaves the unrelated file.
	for _, k := range []string{"um/v2", "um/plain"} {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if e.exists("um/v2.instruction") {
		t.Fatal("the unmarked instruction file outlived its object")
	}
	if !e.exists("um/plain.instruction") {
		t.Fatal("DeleteObject removed an unrelated object named like an instruction file")
	}
}
