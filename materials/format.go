package materials

import "fmt"

// The values of this package that carry a plaintext key print a
// placeholder in its place, with every fmt verb (%v, %+v, %#v, %x, %d …),
// so that a log line or an error that wraps one never shows the key. The
// other fields print as usual.

// Format prints the data key's wrapping, never its plaintext.
func (k DataKey) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "materials.DataKey{Plaintext: …, WrapAlgorithm: %q, Ciphertext: %d bytes, Description: %v}",
		string(k.WrapAlgorithm), len(k.Ciphertext), k.Description)
}

// Format prints the request's suite and context, never the data key.
func (r WrapRequest) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "materials.WrapRequest{Suite: %v, EncryptionContext: %v, Plaintext: …}", r.Suite, r.EncryptionContext)
}

// Format prints the key's material description, never the key.
func (k AESKey) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "materials.AESKey{Key: …, MaterialDescription: %v}", k.MaterialDescription)
}
