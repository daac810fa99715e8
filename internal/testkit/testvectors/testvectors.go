// Package testvectors loads the S3EC interoperability vectors in
// testdata/vectors: objects written by AWS's own S3 Encryption Clients, with
// their metadata, instruction files, key material and expected outcome.
package testvectors

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Vector is one vector file (schema_version 1).
type Vector struct {
	Name                  string            `json:"name"`
	Description           string            `json:"description"`
	Producer              string            `json:"producer"`
	Format                string            `json:"format"`
	ContentAlgorithm      string            `json:"content_algorithm"`
	WrapAlgorithm         string            `json:"wrap_algorithm"`
	MetadataLocation      string            `json:"metadata_location"`
	S3Key                 string            `json:"s3_key"`
	UserEncryptionContext map[string]string `json:"user_encryption_context"`
	Metadata              map[string]string `json:"metadata"`
	InstructionFile       *InstructionFile  `json:"instruction_file"`
	CiphertextRef         Blob              `json:"ciphertext"`
	PlaintextRef          Blob              `json:"plaintext"`
	KMS                   []KMSEntry        `json:"kms"`
	Keyring               *Keyring          `json:"keyring"`
	DecryptOptions        map[string]any    `json:"decrypt_options"`
	ExpectError           string            `json:"expect_error"`
	Mutation              string            `json:"mutation"`

	// Dir is the directory of the JSON file; Group its group (folder) name.
	Dir, Group string
}

// InstructionFile is a stored instruction file.
type InstructionFile struct {
	S3Key    string            `json:"s3_key"`
	Body     string            `json:"body"`
	Metadata map[string]string `json:"metadata"`
}

// Blob is a ciphertext or plaintext: inline base64 or a file.
type Blob struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	B64    string `json:"b64"`
	File   string `json:"file"`
}

// KMSEntry is what a fake KMS needs to answer Decrypt for one data key.
type KMSEntry struct {
	KeyID             string            `json:"key_id"`
	CiphertextBlobB64 string            `json:"ciphertext_blob_b64"`
	EncryptionContext map[string]string `json:"encryption_context"`
	PlaintextKeyB64   string            `json:"plaintext_key_b64"`
}

// Keyring describes a local keyring (raw-keyring vectors).
type Keyring struct {
	Type                     string            `json:"type"` // "aes" or "rsa"
	KeyB64                   string            `json:"key_b64"`
	PrivateKeyPEM            string            `json:"private_key_pem"`
	PublicKeyPEM             string            `json:"public_key_pem"`
	MaterialDescription      map[string]string `json:"material_description"`
	AdditionalDecryptionKeys []Keyring         `json:"additional_decryption_keys"`
}

// Dir returns the vectors directory of the repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "vectors")
}

// Load reads every vector below dir, sorted by name.
func Load(dir string) ([]*Vector, error) {
	var out []*Vector
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		v := &Vector{}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		v.Dir = filepath.Dir(path)
		v.Group = filepath.Base(v.Dir)
		out = append(out, v)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// Ciphertext returns the stored object bytes.
func (v *Vector) Ciphertext() ([]byte, error) { return v.blob(v.CiphertextRef) }

// Plaintext returns the expected plaintext.
func (v *Vector) Plaintext() ([]byte, error) { return v.blob(v.PlaintextRef) }

func (v *Vector) blob(b Blob) ([]byte, error) {
	var data []byte
	var err error
	if b.File != "" {
		data, err = os.ReadFile(filepath.Join(v.Dir, b.File))
	} else {
		data, err = base64.StdEncoding.DecodeString(b.B64)
	}
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != b.Size {
		return nil, fmt.Errorf("%s: blob is %d bytes, want %d", v.Name, len(data), b.Size)
	}
	return data, nil
}

// Matches reports whether data has the blob's size and SHA-256.
func (b Blob) Matches(data []byte) bool {
	sum := sha256.Sum256(data)
	return int64(len(data)) == b.Size && hex.EncodeToString(sum[:]) == b.SHA256
}

// Negative reports whether the vector must fail.
func (v *Vector) Negative() bool { return v.ExpectError != "" }

// OptionBool returns a boolean decrypt option (false when absent).
func (v *Vector) OptionBool(name string) bool {
	b, _ := v.DecryptOptions[name].(bool)
	return b
}

// RequireDecrypt reports whether the vector's commitment policy is
// REQUIRE_ENCRYPT_REQUIRE_DECRYPT. Vectors that do not name a policy, or
// name one that allows decryption, are read with an allowing policy unless
// they are V3.
func (v *Vector) RequireDecrypt() bool {
	p, _ := v.DecryptOptions["commitment_policy"].(string)
	if p == "" {
		return v.Format == "v3"
	}
	return strings.HasPrefix(p, "REQUIRE_ENCRYPT_REQUIRE_DECRYPT")
}
