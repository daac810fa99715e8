package s3test

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// bucketName derives a valid, unique bucket name from the test name.
func bucketName(tb testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(tb.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := b.String()
	if len(name) > 40 {
		name = name[:40]
	}
	name = strings.Trim(name, "-")
	if name == "" {
		name = "t"
	}
	return "s3ec-" + name + "-" + hex.EncodeToString(suffix)
}
