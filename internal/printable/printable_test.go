package printable

import "testing"

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"docs/report 2026.pdf":   "docs/report 2026.pdf",
		"caf\u00e9/\u65e5\u672c": "caf\u00e9/\u65e5\u672c",
		"a\nb":                   `a\x0ab`,
		"a\r\x1b[2Jb":            `a\x0d\x1b[2Jb`,
		"tab\there":              `tab\x09here`,
		"del\x7f":                `del\x7f`,
		"c1\u0085":               `c1\u0085`,
		"bidi\u202egnp.exe":      `bidi\u202egnp.exe`,
		"isolate\u2066x\u2069":   `isolate\u2066x\u2069`,
		"bad\xffutf8":            `bad\xffutf8`,
		"replacement\ufffdkept":  "replacement\ufffdkept", // a valid character
		"nul\x00":                `nul\x00`,
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzText: what Text returns holds no rune it escapes (U+FFFD, a valid
// character, aside), so a second pass changes nothing.
func FuzzText(f *testing.F) {
	f.Add("a\nb\u202e\xff")
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		for _, r := range got {
			if escaped(r) && r != '\ufffd' {
				t.Fatalf("Text(%q) = %q keeps %U", s, got, r)
			}
		}
		if again := Text(got); again != got {
			t.Fatalf("Text(%q) = %q, again %q", s, got, again)
		}
	})
}
