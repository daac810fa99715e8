// Package printable makes text from outside (object keys: whoever can
// write a bucket chooses them) safe to print in a line of output, an error
// message or a log: it escapes what a terminal or a reader would not take
// as text. The library's error messages and the s3ec command's output
// both use it.
package printable

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text returns s with control characters (C0, DEL, C1: the line breaks
// and carriage returns that would forge lines, the escape sequences a
// terminal obeys) and the bidirectional controls that reorder what is
// shown escaped as \xNN or \uNNNN, and invalid UTF-8 bytes as \xNN.
// Everything else, and so every ordinary key, is returned unchanged.
func Text(s string) string {
	if strings.IndexFunc(s, escaped) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && escaped(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case escaped(r) && r != utf8.RuneError:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

// escaped reports the runes Text escapes.
func escaped(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError
}
