package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
	"github.com/s3ec/s3ec-go/materials"
)

// An Upload cancelled after some parts leaves its multipart upload open;
// resumed from the last token, in another Client (another process has
// only the token and the keyring), it stores exactly the ciphertext an
// uninterrupted encryption gives, which reads back authenticated, and
// sends only the parts S3 did not hold.
func TestUploadResumeAfterCancel(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	tok, id := e.interruptedUpload(e.client(kr), "big", data, 3)

	liar := &s3test.Liar{}
	c2, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
	if err != nil {
		t.Fatal(err)
	}
	var tokens tokenBox
	out, err := e.resume(c2, "big", data, tok, func(o *encryptionclient.UploadOptions) { o.OnResumeToken = tokens.save })
	if err != nil {
		t.Fatal(err)
	}
	if out.UploadID != id || out.Size != int64(len(data)) || out.Parts != resumeParts {
		t.Fatalf("resumed: upload %s, %d bytes, %d parts; want %s, %d, %d", out.UploadID, out.Size, out.Parts, id, len(data), resumeParts)
	}
	if sent := uploadParts(liar.Requests()); sent < 1 || sent > resumeParts-3 {
		t.Fatalf("the resume sent %d parts; at least 3 of %d were on S3", sent, resumeParts)
	}
	if tokens.n == 0 {
		t.Fatal("the resumed Upload delivered no token")
	}
	e.mustStoreExactly(c2, kr, "big", data)
	e.mustHaveNoUploads()
}

// Cancelled twice, resumed twice: each resume delivers tokens of its own
// that the next one resumes from.
func TestUploadResumeTwice(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["kms"]
	c := e.client(kr)
	data := e.resumeData()
	tok, _ := e.interruptedUpload(c, "twice", data, 2)

	ctx, cancel := context.WithCancel(e.uploadCtx(context.Background()))
	defer cancel()
	var box tokenBox
	_, err := c.Upload(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("twice"), Body: bytes.NewReader(data)},
		e.uploadOpts(func(o *encryptionclient.UploadOptions) {
			o.ResumeToken, o.OnResumeToken, o.Concurrency = tok, box.save, 1
			o.Progress = func(done int64) {
				if done >= 5*e.testPartSize() {
					cancel()
				}
			}
		})...)
	var left *encryptionclient.UploadInterruptedError
	if !errors.As(err, &left) {
		t.Fatalf("second run: %v, want an *UploadInterruptedError", err)
	}
	if _, err := e.resume(c, "twice", data, box.token()); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(c, kr, "twice", data)
	e.mustHaveNoUploads()
}

// Every byte of a token flipped, in turn, is refused before anything is
// sent, with a typed error: ErrInvalidResumeToken, or the keyring's
// ErrUnwrap for bytes of the wrapped data key; the token then still
// resumes.
func TestUploadResumeTamperedToken(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	tok, _ := e.interruptedUpload(e.client(kr), "tamper", data, 2)
	liar := &s3test.Liar{}
	c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
	if err != nil {
		t.Fatal(err)
	}
	var unwrap []int // flips the keyring refused
	for i := range tok {
		bad := bytes.Clone(tok)
		bad[i] ^= 0x01
		_, err := e.resume(c, "tamper", data, bad)
		var re *encryptionclient.ResumeError
		switch {
		case !errors.As(err, &re):
			t.Fatalf("byte %d flipped: %v, want a *ResumeError", i, err)
		case errors.Is(err, encryptionclient.ErrInvalidResumeToken):
		case errors.Is(err, encryptionclient.ErrUnwrap):
			unwrap = append(unwrap, i)
		default:
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if n := len(liar.Requests()); n != 0 {
		t.Fatalf("tampered tokens sent %d requests", n)
	}
	for _, cut := range [][]byte{{}, tok[:10], tok[:len(tok)-1], append(bytes.Clone(tok), 0)} {
		if _, err := e.resume(c, "tamper", data, cut); !errors.Is(err, encryptionclient.ErrInvalidResumeToken) {
			t.Fatalf("token of %d bytes: %v", len(cut), err)
		}
	}
	if _, err := e.resume(c, "tamper", data, tok); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(c, kr, "tamper", data)
	// The flips the keyring refused are in the envelope's values that
	// reach it (the wrapped key, its algorithm, the description), as the
	// stored object's metadata shows them.
	_, meta, err := e.raw("tamper")
	if err != nil {
		t.Fatal(err)
	}
	inValue := func(i int) bool {
		for _, v := range meta {
			if at := bytes.Index(tok, []byte(v)); len(v) > 0 && at >= 0 && i >= at && i < at+len(v) {
				return true
			}
		}
		return false
	}
	for _, i := range unwrap {
		if !inValue(i) {
			t.Fatalf("byte %d flipped, outside the envelope's values, gave ErrUnwrap rather than ErrInvalidResumeToken", i)
		}
	}
}

// A token is bound to its bucket, key and upload: given for another key
// or bucket it is refused (ErrResumeMismatch), and with the upload id in
// it replaced by another upload's it no longer opens
// (ErrInvalidResumeToken).
func TestUploadResumeTokenBinding(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	c := e.client(kr)
	data := e.resumeData()
	tokA, idA := e.interruptedUpload(c, "a", data, 2)
	_, idB := e.interruptedUpload(c, "a", data, 2)

	if _, err := e.resume(c, "b", data, tokA); !errors.Is(err, encryptionclient.ErrResumeMismatch) {
		t.Fatalf("token of key a for key b: %v", err)
	}
	other := e.srv.CreateBucket(t, e.plain)
	_, err := c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &other, Key: aws.String("a"), Body: bytes.NewReader(data)},
		e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.ResumeToken = tokA })...)
	if !errors.Is(err, encryptionclient.ErrResumeMismatch) {
		t.Fatalf("token for another bucket: %v", err)
	}
	if len(idA) != len(idB) || len(idA) > 127 {
		t.Fatalf("upload ids %q and %q: the test needs equal lengths under 128", idA, idB)
	}
	swapped := bytes.Replace(tokA, append([]byte{byte(len(idA))}, idA...), append([]byte{byte(len(idB))}, idB...), 1)
	if bytes.Equal(swapped, tokA) {
		t.Fatal("the upload id was not found in the token")
	}
	if _, err := e.resume(c, "a", data, swapped); !errors.Is(err, encryptionclient.ErrInvalidResumeToken) {
		t.Fatalf("token with another upload id: %v", err)
	}
	for _, id := range []string{idA, idB} {
		if _, err := c.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("a"), UploadId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
}

// A token whose upload was completed, or aborted, is stale.
func TestUploadResumeStaleToken(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	c := e.client(kr)
	data := e.resumeData()
	tok, _ := e.interruptedUpload(c, "done", data, 2)
	if _, err := e.resume(c, "done", data, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := e.resume(c, "done", data, tok); !errors.Is(err, encryptionclient.ErrResumeStale) {
		t.Fatalf("token of a completed upload: %v", err)
	}
	tok2, id := e.interruptedUpload(c, "aborted", data, 2)
	if _, err := c.AbortMultipartUpload(context.Background(), &s3.AbortMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("aborted"), UploadId: &id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.resume(c, "aborted", data, tok2); !errors.Is(err, encryptionclient.ErrResumeStale) {
		t.Fatalf("token of an aborted upload: %v", err)
	}
	if e.exists("aborted") {
		t.Fatal("an object was stored from an aborted upload")
	}
}

// A source that changed is refused before any part is sent or any S3
// state changes: a byte changed in a part already uploaded, in a part
// encrypted but not confirmed, a source of another size. A body that
// cannot be read again is refused with ErrResumeUnseekable. Then the
// unchanged source resumes.
func TestUploadResumeChangedSourceRefused(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	data := e.resumeData()
	tok, _ := e.interruptedUpload(e.client(kr), "src", data, 3)
	liar := &s3test.Liar{}
	c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(e.testPartSize())
	for name, src := range map[string][]byte{
		"byte of part 1 changed": func() []byte { b := bytes.Clone(data); b[10] ^= 1; return b }(),
		"byte of part 3 changed": func() []byte { b := bytes.Clone(data); b[2*ps+ps-1] ^= 1; return b }(),
		"one byte longer":        append(bytes.Clone(data), 0),
		"one byte shorter":       data[:len(data)-1],
	} {
		_, err := e.resume(c, "src", src, tok)
		if !errors.Is(err, encryptionclient.ErrResumeMismatch) {
			t.Fatalf("%s: %v, want ErrResumeMismatch", name, err)
		}
		if n := uploadParts(liar.Requests()); n != 0 {
			t.Fatalf("%s: %d parts sent", name, n)
		}
	}
	_, err = c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("src"), Body: io.MultiReader(bytes.NewReader(data))},
		e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.ResumeToken = tok })...)
	if !errors.Is(err, encryptionclient.ErrResumeUnseekable) {
		t.Fatalf("a stream: %v, want ErrResumeUnseekable", err)
	}
	if _, err := e.resume(c, "src", data, tok); err != nil {
		t.Fatal(err)
	}
	e.mustStoreExactly(c, kr, "src", data)
}

// A keyring that cannot unwrap the token's data key cannot resume: the
// error is the keyring's, and nothing is sent.
func TestUploadResumeWrongKeyringRefused(t *testing.T) {
	e := newEnv(t)
	data := e.resumeData()
	tok, id := e.interruptedUpload(e.client(e.krs["aes"]), "kr", data, 2)
	liar := &s3test.Liar{}
	otherAES, err := materials.NewAESKeyring(randBytes(t, 32), func(o *materials.AESKeyringOptions) {
		o.MaterialDescription = map[string]string{"purpose": "test"}
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, kr := range map[string]materials.Keyring{"another AES key": otherAES, "rsa": e.krs["rsa"], "kms": e.krs["kms"]} {
		c, err := encryptionclient.New(e.srv.LiarClient(liar), kr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.resume(c, "kr", data, tok)
		var re *encryptionclient.ResumeError
		want := encryptionclient.ErrUnwrap // the AES keyring tried, and failed
		if name != "another AES key" {
			want = materials.ErrNotMine // the other keyrings do not read AES/GCM wraps
		}
		if !errors.As(err, &re) || !errors.Is(err, want) || re.UploadID != id {
			t.Fatalf("%s keyring: %v, want a *ResumeError for %v naming the upload", name, err, want)
		}
	}
	if n := len(liar.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// A resumable Upload whose OnResumeToken fails: when the first token could
// not be saved, the upload is aborted (it could never be resumed); when a
// later one fails, or any of a resumed Upload, the upload is left for a
// resume from the last token saved, which completes it.
func TestUploadResumeTokenSaveFails(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	c := e.client(kr)
	data := e.resumeData()
	disk := errors.New("disk full")
	for _, failAt := range []int{1, 4} {
		box := &tokenBox{failAt: failAt, err: disk}
		_, err := c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("save"), Body: bytes.NewReader(data)},
			e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.OnResumeToken = box.save })...)
		if !errors.Is(err, disk) {
			t.Fatalf("token %d failing: %v", failAt, err)
		}
		var left *encryptionclient.UploadInterruptedError
		if failAt == 1 {
			if errors.As(err, &left) {
				t.Fatal("an upload without a saved token was left open")
			}
			e.mustHaveNoUploads()
			continue
		}
		if !errors.As(err, &left) {
			t.Fatalf("token %d failing: %v, want an *UploadInterruptedError", failAt, err)
		}
		// A resume whose first token cannot be saved leaves the upload
		// open too: the caller still holds the token it resumed from.
		broken := &tokenBox{failAt: 1, err: disk}
		_, err = e.resume(c, "save", data, box.token(), func(o *encryptionclient.UploadOptions) { o.OnResumeToken = broken.save })
		if !errors.Is(err, disk) || !errors.As(err, &left) {
			t.Fatalf("a resume whose first token fails: %v, want an *UploadInterruptedError", err)
		}
		if _, err := e.resume(c, "save", data, box.token()); err != nil {
			t.Fatal(err)
		}
		e.mustStoreExactly(c, kr, "save", data)
	}
	e.mustHaveNoUploads()
}

// A resumed Upload keeps what the first one set up: the envelope in an
// instruction file (written at completion with the token's storage
// settings), the checksum algorithm of every part (on real servers), the
// object's metadata and content type; a resume that asks for another
// checksum algorithm, or for other object settings (which S3 would not
// apply: CreateMultipartUpload took them), is refused before anything is
// sent.
func TestUploadResumeKeepsSettings(t *testing.T) {
	e := newEnv(t)
	kr := e.krs["aes"]
	c := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	data := e.resumeData()
	in := &s3.PutObjectInput{
		Bucket: &e.bucket, Key: aws.String("settings"), Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-test"), Metadata: map[string]string{"owner": "alice"},
	}
	if e.srv.Real {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	}
	tok, _ := e.interruptedUploadOf(c, in, 3)
	if e.srv.Real {
		_, err := c.Upload(e.uploadCtx(context.Background()), &s3.PutObjectInput{
			Bucket: &e.bucket, Key: aws.String("settings"), Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		}, e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.ResumeToken = tok })...)
		if !errors.Is(err, encryptionclient.ErrResumeMismatch) {
			t.Fatalf("another checksum algorithm: %v", err)
		}
	}
	// A fresh Client, as another process would have.
	c2 := e.client(kr, func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	for name, other := range map[string]func(*s3.PutObjectInput){
		"no settings":           func(in *s3.PutObjectInput) { in.ContentType, in.Metadata = nil, nil },
		"another content type":  func(in *s3.PutObjectInput) { in.ContentType = aws.String("text/plain") },
		"other metadata":        func(in *s3.PutObjectInput) { in.Metadata = map[string]string{"owner": "bob"} },
		"another storage class": func(in *s3.PutObjectInput) { in.StorageClass = types.StorageClassStandardIa },
	} {
		again := *in
		again.Body, again.ChecksumAlgorithm = bytes.NewReader(data), ""
		other(&again)
		if _, err := c2.Upload(e.uploadCtx(context.Background()), &again, e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.ResumeToken = tok })...); !errors.Is(err, encryptionclient.ErrResumeMismatch) {
			t.Fatalf("resume with %s: %v, want ErrResumeMismatch", name, err)
		}
	}
	same := *in
	same.Body, same.ChecksumAlgorithm = bytes.NewReader(data), ""
	// Metadata names are case-insensitive.
	same.Metadata = map[string]string{"Owner": "alice"}
	if _, err := c2.Upload(e.uploadCtx(context.Background()), &same, e.uploadOpts(func(o *encryptionclient.UploadOptions) { o.ResumeToken = tok })...); err != nil {
		t.Fatal(err)
	}
	if !e.exists("settings" + envelope.DefaultInstructionSuffix) {
		t.Fatal("no instruction file after the resume")
	}
	e.mustStoreExactly(c2, kr, "settings", data)
	h, err := e.plain.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("settings")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(h.ContentType) != "application/x-test" || h.Metadata["owner"] != "alice" {
		t.Fatalf("stored: type %q, metadata %v", aws.ToString(h.ContentType), h.Metadata)
	}
	e.mustHaveNoUploads()
}
