package main

import (
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a", true},
		{"*", "sub/deep/a.txt", true}, // "*" crosses "/", as in the aws CLI
		{"*.txt", "sub/a.txt", true},
		{"*.txt", "a.txt.bak", false},
		{"sub/*", "sub/a/b", true},
		{"sub/*", "other/sub/a", false},
		{"*/a.txt", "x/y/a.txt", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "aéc", true}, // one character, not one byte
		{"[ab].txt", "b.txt", true},
		{"[ab].txt", "c.txt", false},
		{"[a-c]x", "bx", true},
		{"[!a-c]x", "bx", false},
		{"[!a-c]x", "dx", true},
		{"[]]", "]", true},
		{"a[", "a[", true}, // an unclosed "[" is literal
		{"a[b", "a[b", true},
		{"", "", true},
		{"", "a", false},
		{"**", "", true},
		{"*a*b*c*", "xaybzc", true},
		{"*a*b*c*", "xaybz", false},
		{"Sub/*", "sub/a", false}, // case-sensitive
	} {
		if got := globMatch(c.pattern, c.name); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
	// No exponential backtracking.
	long := strings.Repeat("a", 5000)
	if globMatch(strings.Repeat("*a", 50)+"b", long) {
		t.Error("matched")
	}
}

// TestFilters applies filters in order, the last match deciding, as the
// aws CLI does.
func TestFilters(t *testing.T) {
	var f filters
	if !f.includes("anything") {
		t.Error("no filters must include everything")
	}
	f.rules = []filterRule{{false, "*"}, {true, "*.txt"}, {false, "secret/*"}}
	for rel, want := range map[string]bool{
		"a.txt":           true,
		"a.jpg":           false,
		"sub/b.txt":       true,
		"secret/c.txt":    false,
		"secret/d.jpg":    false,
		"notsecret/e.txt": true,
	} {
		if got := f.includes(rel); got != want {
			t.Errorf("includes(%q) = %v, want %v", rel, got, want)
		}
	}
	// The same patterns the other way round: the include comes last.
	f.rules = []filterRule{{false, "secret/*"}, {true, "*.txt"}}
	if !f.includes("secret/c.txt") {
		t.Error("a later --include must win over an earlier --exclude")
	}
}
