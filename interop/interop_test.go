// Interoperability of s3ec-go with AWS's own Go S3 Encryption Clients.
//
// Every object goes through a real client on each side, an in-process S3
// server (gofakes3) and the KMS test server (kms+context data keys). Each
// case checks the plaintext read back byte for byte, and the stored format
// with a plain S3 client (see checkStored). Sizes: 0, 1, 17, 1 MiB + 3;
// each with no encryption context and with one.
//
// Clients: aws-v3.2.0 = amazon-s3-encryption-client-go/v3 v3.2.0 (default
// policy FORBID_ENCRYPT_ALLOW_DECRYPT); aws-v4 = amazon-s3-encryption-client-go/v4
// v4.0.0 (default REQUIRE_ENCRYPT_REQUIRE_DECRYPT; "non-committing" =
// FORBID_ENCRYPT_ALLOW_DECRYPT + AES/GCM/NoPadding; "allow-decrypt" =
// REQUIRE_ENCRYPT_ALLOW_DECRYPT); s3crypto = aws-sdk-go v1.55.8
// EncryptionClientV2 / DecryptionClientV2 (kms+context, AES-GCM).
//
// Matrix (writer -> reader, format, result):
//
//	theirs -> ours (TestTheirsWriteOursRead)
//	  aws-v3.2.0               -> s3ec-go RequireEncryptAllowDecrypt   V2 metadata          works
//	  aws-v4 default           -> s3ec-go default policy               V3 metadata          works
//	  aws-v4 non-committing    -> s3ec-go RequireEncryptAllowDecrypt   V2 metadata          works
//	  s3crypto V2              -> s3ec-go RequireEncryptAllowDecrypt   V2 metadata          works
//	  s3crypto V2 S3SaveStrategy -> s3ec-go RequireEncryptAllowDecrypt V2 instruction file  works
//	  (the V2 objects are also refused by s3ec-go's default policy, with ErrPolicy)
//	ours -> theirs (TestOursWriteTheirsRead)
//	  s3ec-go default          -> aws-v4 default, aws-v4 allow-decrypt, aws-v3.2.0
//	                                                                   V3 metadata          works
//	  s3ec-go ForbidEncrypt…   -> aws-v3.2.0, aws-v4 allow-decrypt, aws-v4 non-committing,
//	                              s3crypto (WithCMK, WithAnyCMK)       V2 metadata          works
//	  s3ec-go default + StoreInstructionFile
//	                           -> aws-v4 default, aws-v3.2.0           V3 instruction file  works
//	  s3ec-go ForbidEncrypt… + StoreInstructionFile
//	                           -> aws-v3.2.0, aws-v4 allow-decrypt, s3crypto (both)
//	                                                                   V2 instruction file  works
//	encryption context mismatch (TestContextMismatch)
//	  s3ec-go writes with A, aws-v3.2.0 / aws-v4 read with B           V2 and V3            refused
//	  aws-v3.2.0 / aws-v4 / s3crypto write with A, s3ec-go reads with B (or none)
//	                                                                   V2 and V3            refused, ErrContextMismatch
//
// Not possible by design, so not tested:
//   - aws-v3.2.0 cannot write V3 (it refuses the committing suite).
//   - s3crypto cannot write or read V3, and cannot be told which encryption
//     context to expect (it reads the stored one), so it has no mismatch case.
//   - aws-v3.2.0 and aws-v4 cannot write instruction files (metadata only),
//     so the only AWS-written instruction files are s3crypto's (V2).
//
// Notes: aws-v3.2.0 and aws-v4 read instruction files through an S3 client
// of their own, built from the default AWS configuration rather than the
// client they wrap; main_test.go points that one at the test server
// (AWS_ENDPOINT_URL_S3). aws-v4 stores x-amz-unencrypted-content-length
// with an empty value on V3 objects; s3ec-go reads them.

package interop

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

var sizes = []int{0, 1, 17, 1<<20 + 3}

var contexts = []struct {
	name string
	ec   map[string]string
}{
	{"no-context", nil},
	{"context", map[string]string{"department": "interop", "purpose": "round trip"}},
}

func plaintext(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func objectKey(size int) string { return fmt.Sprintf("dir/object-%d", size) }

// wantPlaintext checks a read: no error, and exactly the bytes written.
func wantPlaintext(t *testing.T, what string, got []byte, err error, want []byte) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if len(got) != len(want) {
		t.Errorf("%s: read %d bytes, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: plaintext differs at byte %d of %d", what, i, len(want))
			return
		}
	}
}

const (
	allowDecrypt = envelope.RequireEncryptAllowDecrypt
	requireBoth  = envelope.RequireEncryptRequireDecrypt
	forbidEnc    = envelope.ForbidEncryptAllowDecrypt
)

func TestTheirsWriteOursRead(t *testing.T) {
	writers := []struct {
		name   string
		put    putter
		layout layout
		policy envelope.CommitmentPolicy // our reader's
	}{
		{"aws-v3.2.0", awsV3Put(), v2Metadata, allowDecrypt},
		{"aws-v4-default", awsV4Put(v4Default), v3Metadata, requireBoth},
		{"aws-v4-non-committing", awsV4Put(v4NonCommitting), v2Metadata, allowDecrypt},
		{"s3crypto-v2", s3cryptoPut(false), v2Metadata, allowDecrypt},
		{"s3crypto-v2-instruction-file", s3cryptoPut(true), v2Instruction, allowDecrypt},
	}
	for _, w := range writers {
		for _, c := range contexts {
			t.Run(w.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				h := newHarness(t)
				for _, size := range sizes {
					t.Run(fmt.Sprint(size), func(t *testing.T) {
						key, data := objectKey(size), plaintext(t, size)
						if err := w.put(ctx, t, h, key, data, c.ec); err != nil {
							t.Fatalf("%s PutObject: %v", w.name, err)
						}
						checkStored(t, h, key, size, w.layout, c.ec)
						got, err := oursGet(w.policy)(ctx, t, h, key, c.ec)
						wantPlaintext(t, fmt.Sprintf("s3ec-go (%v) GetObject", w.policy), got, err, data)

						if !w.layout.v3() {
							// The default policy reads key-committing objects only.
							_, err := oursGet(requireBoth)(ctx, t, h, key, c.ec)
							if !errors.Is(err, encryptionclient.ErrPolicy) {
								t.Errorf("s3ec-go (default policy) GetObject of a V2 object: got %v, want ErrPolicy", err)
							}
						}
					})
				}
			})
		}
	}
}

type namedGetter struct {
	name string
	get  getter
}

var (
	awsV4DefaultReader      = namedGetter{"aws-v4-default", awsV4Get(v4Default)}
	awsV4AllowDecryptReader = namedGetter{"aws-v4-allow-decrypt", awsV4Get(v4AllowDecrypt)}
	awsV4NonCommitReader    = namedGetter{"aws-v4-non-committing", awsV4Get(v4NonCommitting)}
	awsV3Reader             = namedGetter{"aws-v3.2.0", awsV3Get()}
	s3cryptoCMKReader       = namedGetter{"s3crypto-v2-with-cmk", s3cryptoGet(false)}
	s3cryptoAnyCMKReader    = namedGetter{"s3crypto-v2-with-any-cmk", s3cryptoGet(true)}
)

func TestOursWriteTheirsRead(t *testing.T) {
	writers := []struct {
		name    string
		put     putter
		layout  layout
		readers []namedGetter
	}{
		{
			"s3ec-go-v3", oursPut(requireBoth, encryptionclient.StoreAuto), v3Metadata,
			[]namedGetter{awsV4DefaultReader, awsV4AllowDecryptReader, awsV3Reader},
		},
		{
			"s3ec-go-v2", oursPut(forbidEnc, encryptionclient.StoreAuto), v2Metadata,
			[]namedGetter{awsV3Reader, awsV4AllowDecryptReader, awsV4NonCommitReader, s3cryptoCMKReader, s3cryptoAnyCMKReader},
		},
		{
			"s3ec-go-v3-instruction-file", oursPut(requireBoth, encryptionclient.StoreInstructionFile), v3Instruction,
			[]namedGetter{awsV4DefaultReader, awsV3Reader},
		},
		{
			"s3ec-go-v2-instruction-file", oursPut(forbidEnc, encryptionclient.StoreInstructionFile), v2Instruction,
			[]namedGetter{awsV3Reader, awsV4AllowDecryptReader, s3cryptoCMKReader, s3cryptoAnyCMKReader},
		},
	}
	for _, w := range writers {
		for _, c := range contexts {
			t.Run(w.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				h := newHarness(t)
				data := map[int][]byte{}
				for _, size := range sizes {
					key := objectKey(size)
					data[size] = plaintext(t, size)
					if err := w.put(ctx, t, h, key, data[size], c.ec); err != nil {
						t.Fatalf("s3ec-go PutObject %d bytes: %v", size, err)
					}
					t.Run("stored/"+fmt.Sprint(size), func(t *testing.T) {
						checkStored(t, h, key, size, w.layout, c.ec)
					})
				}
				for _, r := range w.readers {
					for _, size := range sizes {
						t.Run(r.name+"/"+fmt.Sprint(size), func(t *testing.T) {
							got, err := r.get(ctx, t, h, objectKey(size), c.ec)
							wantPlaintext(t, r.name+" GetObject", got, err, data[size])
						})
					}
				}
			})
		}
	}
}

func TestContextMismatch(t *testing.T) {
	ecA := map[string]string{"tenant": "a", "purpose": "interop"}
	ecB := map[string]string{"tenant": "b", "purpose": "interop"}
	const size = 17

	t.Run("ours-writes-theirs-reads", func(t *testing.T) {
		cases := []struct {
			name   string
			put    putter
			layout layout
			reader namedGetter
		}{
			{"s3ec-go-v3/aws-v4-default", oursPut(requireBoth, encryptionclient.StoreAuto), v3Metadata, awsV4DefaultReader},
			{"s3ec-go-v3/aws-v3.2.0", oursPut(requireBoth, encryptionclient.StoreAuto), v3Metadata, awsV3Reader},
			{"s3ec-go-v2/aws-v3.2.0", oursPut(forbidEnc, encryptionclient.StoreAuto), v2Metadata, awsV3Reader},
			{"s3ec-go-v2/aws-v4-allow-decrypt", oursPut(forbidEnc, encryptionclient.StoreAuto), v2Metadata, awsV4AllowDecryptReader},
			{"s3ec-go-v3-instruction-file/aws-v4-default", oursPut(requireBoth, encryptionclient.StoreInstructionFile), v3Instruction, awsV4DefaultReader},
			{"s3ec-go-v2-instruction-file/aws-v3.2.0", oursPut(forbidEnc, encryptionclient.StoreInstructionFile), v2Instruction, awsV3Reader},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				h := newHarness(t)
				key, data := objectKey(size), plaintext(t, size)
				if err := c.put(ctx, t, h, key, data, ecA); err != nil {
					t.Fatalf("s3ec-go PutObject: %v", err)
				}
				checkStored(t, h, key, size, c.layout, ecA)
				// The same reader with the right context succeeds...
				got, err := c.reader.get(ctx, t, h, key, ecA)
				wantPlaintext(t, c.reader.name+" GetObject with context A", got, err, data)
				// ...and with another one fails.
				got, err = c.reader.get(ctx, t, h, key, ecB)
				if err == nil {
					t.Errorf("%s GetObject with context B succeeded (%d bytes); want an error", c.reader.name, len(got))
				}
			})
		}
	})

	t.Run("theirs-writes-ours-reads", func(t *testing.T) {
		cases := []struct {
			name   string
			put    putter
			layout layout
			policy envelope.CommitmentPolicy
		}{
			{"aws-v3.2.0", awsV3Put(), v2Metadata, allowDecrypt},
			{"aws-v4-default", awsV4Put(v4Default), v3Metadata, requireBoth},
			{"aws-v4-non-committing", awsV4Put(v4NonCommitting), v2Metadata, allowDecrypt},
			{"s3crypto-v2", s3cryptoPut(false), v2Metadata, allowDecrypt},
			{"s3crypto-v2-instruction-file", s3cryptoPut(true), v2Instruction, allowDecrypt},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				h := newHarness(t)
				key, data := objectKey(size), plaintext(t, size)
				if err := c.put(ctx, t, h, key, data, ecA); err != nil {
					t.Fatalf("%s PutObject: %v", c.name, err)
				}
				checkStored(t, h, key, size, c.layout, ecA)
				read := oursGet(c.policy)
				got, err := read(ctx, t, h, key, ecA)
				wantPlaintext(t, "s3ec-go GetObject with context A", got, err, data)
				for _, wrong := range []struct {
					name string
					ec   map[string]string
				}{{"context B", ecB}, {"no context", nil}} {
					got, err := read(ctx, t, h, key, wrong.ec)
					if !errors.Is(err, encryptionclient.ErrContextMismatch) {
						t.Errorf("s3ec-go GetObject with %s: got %d bytes, error %v; want ErrContextMismatch", wrong.name, len(got), err)
					}
				}
			})
		}
	})
}
