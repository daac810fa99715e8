package encryptionclient_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

// ReadEnvelope reads the envelope where the client put it, with no
// keyring, and says what it is; it refuses objects without one, naming an
// instruction file as such.
func TestReadEnvelope(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	inMeta := e.client(e.krs["aes"])
	inFile := e.client(e.krs["aes"], func(o *encryptionclient.Options) { o.EnvelopeStorage = encryptionclient.StoreInstructionFile })
	data := bytes.Repeat([]byte("envelope "), 100)
	if err := e.put(inMeta, ctx, "m", data); err != nil {
		t.Fatal(err)
	}
	if err := e.put(inFile, ctx, "f", data); err != nil {
		t.Fatal(err)
	}
	e.putRaw("plain", []byte("not encrypted"), nil)

	read := func(key string) (*encryptionclient.EnvelopeOutput, error) {
		return encryptionclient.ReadEnvelope(ctx, e.plain, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)})
	}
	m, err := read("m")
	if err != nil {
		t.Fatal(err)
	}
	if m.Envelope.Format != envelope.FormatV3 || m.Envelope.WrapAlgorithm != envelope.WrapAESGCM || m.InstructionFileKey != "" {
		t.Fatalf("metadata envelope: %v %v %q", m.Envelope.Format, m.Envelope.WrapAlgorithm, m.InstructionFileKey)
	}
	if got := aws.ToInt64(m.HeadObject.ContentLength); got != int64(len(data))+envelope.TagSize {
		t.Fatalf("stored size %d, want the ciphertext's %d", got, len(data)+envelope.TagSize)
	}
	f, err := read("f")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Envelope.InInstructionFile || f.InstructionFileKey != "f"+envelope.DefaultInstructionSuffix {
		t.Fatalf("instruction-file envelope: in file %v, key %q", f.Envelope.InInstructionFile, f.InstructionFileKey)
	}
	if _, err := read("plain"); !errors.Is(err, encryptionclient.ErrNotEncrypted) {
		t.Fatalf("plain object: %v, want ErrNotEncrypted", err)
	}
	_, err = read("f" + envelope.DefaultInstructionSuffix)
	if !errors.Is(err, encryptionclient.ErrNotEncrypted) || !strings.Contains(err.Error(), "instruction file") {
		t.Fatalf("an instruction file itself: %v, want ErrNotEncrypted saying it is one", err)
	}
	if _, err := encryptionclient.ReadEnvelope(ctx, e.plain, &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("m"), Range: aws.String("bytes=0-1")}); !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatalf("with a Range: %v, want ErrInvalidInput", err)
	}
}

// PutObject refuses an append (WriteOffsetBytes) before anything is sent,
// as Upload does: an encrypted object is one GCM message.
func TestPutObjectRefusesAppend(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.krs["aes"])
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(e.bucket), Key: aws.String("a"), Body: strings.NewReader("more"), WriteOffsetBytes: aws.Int64(4),
	})
	if !errors.Is(err, encryptionclient.ErrInvalidInput) {
		t.Fatalf("WriteOffsetBytes: %v, want ErrInvalidInput", err)
	}
	if e.exists("a") {
		t.Fatal("an object was stored")
	}
}
