package kmstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
)

// Blob layout:
//
//	0x01 | len(key id) (1 byte) | key id | backing-key version (4 bytes, big endian) |
//	nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The additional data is the header (everything before the nonce) followed
// by the canonical JSON of the encryption context.
const (
	blobFormat    = 0x01
	blobNonceSize = 12
)

// canonicalContext is the JSON of ec with sorted keys; nil and empty give "{}".
func canonicalContext(ec map[string]string) []byte {
	if ec == nil {
		ec = map[string]string{}
	}
	b, err := json.Marshal(ec) // encoding/json sorts map keys
	if err != nil {
		panic(err) // a map[string]string always marshals
	}
	return b
}

func newGCM(k []byte) cipher.AEAD {
	block, err := aes.NewCipher(k)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// seal encrypts plaintext under the newest backing key of k.
func seal(k *key, plaintext []byte, ec map[string]string) []byte {
	version := len(k.versions) - 1
	header := make([]byte, 0, 2+len(k.id)+4)
	header = append(header, blobFormat, byte(len(k.id)))
	header = append(header, k.id...)
	header = binary.BigEndian.AppendUint32(header, uint32(version))

	out := make([]byte, len(header), len(header)+blobNonceSize+len(plaintext)+16)
	copy(out, header)
	nonce := make([]byte, blobNonceSize)
	rand.Read(nonce)
	out = append(out, nonce...)
	aad := append(append([]byte(nil), header...), canonicalContext(ec)...)
	return newGCM(k.versions[version]).Seal(out, nonce, plaintext, aad)
}

// parsedBlob is a blob made by seal, split into its parts.
type parsedBlob struct {
	keyID   string
	version uint32
	header  []byte
	nonce   []byte
	sealed  []byte
}

func parseBlob(b []byte) (parsedBlob, bool) {
	if len(b) < 2 || b[0] != blobFormat {
		return parsedBlob{}, false
	}
	n := int(b[1])
	hlen := 2 + n + 4
	if n == 0 || len(b) < hlen+blobNonceSize+16 {
		return parsedBlob{}, false
	}
	return parsedBlob{
		keyID:   string(b[2 : 2+n]),
		version: binary.BigEndian.Uint32(b[2+n : hlen]),
		header:  b[:hlen],
		nonce:   b[hlen : hlen+blobNonceSize],
		sealed:  b[hlen+blobNonceSize:],
	}, true
}

// open decrypts p with k; false when it does not authenticate.
func open(k *key, p parsedBlob, ec map[string]string) ([]byte, bool) {
	if uint64(p.version) >= uint64(len(k.versions)) {
		return nil, false
	}
	aad := append(append([]byte(nil), p.header...), canonicalContext(ec)...)
	pt, err := newGCM(k.versions[p.version]).Open(nil, p.nonce, p.sealed, aad)
	if err != nil {
		return nil, false
	}
	return pt, true
}
