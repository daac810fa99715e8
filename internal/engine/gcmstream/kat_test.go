package gcmstream

import (
	"bytes"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
)

// Known answers from McGrew and Viega, "The Galois/Counter Mode of Operation
// (GCM)", appendix B (test cases 2, 4 and 13–16, the ones with a 96-bit IV),
// and one AES-256 vector from NIST's CAVP GCM test files (gcmEncryptExtIV256).
var knownAnswers = []struct {
	name                      string
	key, iv, aad, pt, ct, tag string
}{
	{
		name: "MV case 2 (AES-128)",
		key:  "00000000000000000000000000000000",
		iv:   "000000000000000000000000",
		pt:   "00000000000000000000000000000000",
		ct:   "0388dace60b6a392f328c2b971b2fe78",
		tag:  "ab6e47d42cec13bdf53a67b21257bddf",
	},
	{
		name: "MV case 4 (AES-128, AAD)",
		key:  "feffe9928665731c6d6a8f9467308308",
		iv:   "cafebabefacedbaddecaf888",
		aad:  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		ct: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
			"21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
		tag: "5bc94fbc3221a5db94fae95ae7121a47",
	},
	{
		name: "MV case 13 (AES-256, empty)",
		key:  "0000000000000000000000000000000000000000000000000000000000000000",
		iv:   "000000000000000000000000",
		tag:  "530f8afbc74536b9a963b4f1c4cb738b",
	},
	{
		name: "MV case 14 (AES-256, one block)",
		key:  "0000000000000000000000000000000000000000000000000000000000000000",
		iv:   "000000000000000000000000",
		pt:   "00000000000000000000000000000000",
		ct:   "cea7403d4d606b6e074ec5d3baf39d18",
		tag:  "d0d1c8a799996bf0265b98b5d48ab919",
	},
	{
		name: "MV case 15 (AES-256, 64 bytes)",
		key:  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		iv:   "cafebabefacedbaddecaf888",
		pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
			"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
		tag: "b094dac5d93471bdec1a502270e3cc6c",
	},
	{
		name: "MV case 16 (AES-256, 60 bytes, AAD)",
		key:  "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		iv:   "cafebabefacedbaddecaf888",
		aad:  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
			"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
			"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		tag: "76fc6ece0f4e1768cddf8853bb2d551b",
	},
	{
		name: "CAVP AES-256 (AAD)",
		key:  "83688deb4af8007f9b713b47cfa6c73e35ea7a3aa4ecdb414dded03bf7a0fd3a",
		iv:   "0b459724904e010a46901cf3",
		aad:  "794a14ccd178c8ebfd1379dc704c5e208f9d8424",
		pt:   "33d893a2114ce06fc15d55e454cf90c3",
		ct:   "cc66bee423e3fcd4c0865715e9586696",
		tag:  "0fb291bd3dba94a1dfd8b286cfb97ac5",
	},
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKnownAnswers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, v := range knownAnswers {
		t.Run(v.name, func(t *testing.T) {
			key, iv, aad, pt := unhex(t, v.key), unhex(t, v.iv), unhex(t, v.aad), unhex(t, v.pt)
			want := unhex(t, v.ct+v.tag)

			// The published values first reproduce with the stdlib.
			if got := stdAEAD(t, key).Seal(nil, iv, pt, aad); !bytes.Equal(got, want) {
				t.Fatalf("stdlib Seal = %x, published %x", got, want)
			}
			c, err := New(key, iv, aad)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAllRandom(c.EncryptReader(bytes.NewReader(pt)), rng)
			if err != io.EOF || !bytes.Equal(got, want) {
				t.Fatalf("EncryptReader = %x, %v; want %x", got, err, want)
			}
			back, err := readAllRandom(c.UnverifiedDecryptReader(bytes.NewReader(want)), rng)
			if err != io.EOF || !bytes.Equal(back, pt) {
				t.Fatalf("UnverifiedDecryptReader = %x, %v; want %x", back, err, pt)
			}
		})
	}
}
