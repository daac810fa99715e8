package main

import (
	"strings"
	"unicode/utf8"
)

// filters are the --exclude and --include patterns of a command, with the
// semantics of the aws CLI: every path is included unless a filter says
// otherwise; the filters are applied in the order given, and the last one
// that matches a path decides. A pattern matches the path relative to the
// source directory or prefix (for example "sub/a.txt"), with "/" as the
// separator on every platform, as a whole: "*" matches any run of
// characters, "/" included; "?" any one character; "[abc]", "[a-z]" one of
// a set, "[!abc]" one not in it. Matching is case-sensitive.
type filters struct {
	rules []filterRule
}

type filterRule struct {
	include bool
	pattern string
}

// register defines --exclude and --include. Both append to one list, so
// that their relative order on the command line is kept.
func (f *filters) register(fs *flagSet) {
	fs.funcVar("exclude", "skip the paths that match `PATTERN` (repeatable; see Filters above)", func(s string) error {
		f.rules = append(f.rules, filterRule{include: false, pattern: s})
		return nil
	})
	fs.funcVar("include", "do not skip the paths that match `PATTERN`, even if an earlier --exclude matched (repeatable)", func(s string) error {
		f.rules = append(f.rules, filterRule{include: true, pattern: s})
		return nil
	})
}

// active reports whether any filter was given.
func (f *filters) active() bool { return len(f.rules) > 0 }

// includes reports whether the relative path rel (with "/" separators)
// is selected.
func (f *filters) includes(rel string) bool {
	in := true
	for _, r := range f.rules {
		if globMatch(r.pattern, rel) {
			in = r.include
		}
	}
	return in
}

// filterHelp documents the filters, for the help of the commands that
// take them.
const filterHelp = `
Filters: --exclude PATTERN and --include PATTERN select the files or
objects a recursive command works on, as in the aws CLI: everything is
selected unless a filter says otherwise, the filters apply in the order
given and the last one that matches a path decides. A pattern matches the
whole path relative to the source directory or prefix ("sub/a.txt"): "*"
matches any characters, "/" included, "?" one character, "[abc]" or "[a-z]"
one of a set, "[!abc]" one not in it. --exclude '*' --include '*.txt'
selects the .txt files only.`

// globMatch reports whether name matches the fnmatch-style pattern as a
// whole. A "[" without its closing "]" matches itself.
func globMatch(pattern, name string) bool {
	// Iterative matching with one backtrack point for the last "*":
	// linear in practice, never exponential.
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch pattern[p] {
			case '*':
				starP, starN = p, n
				p++
				continue
			case '?':
				_, w := utf8.DecodeRuneInString(name[n:])
				p++
				n += w
				continue
			case '[':
				if ok, pw, matched := matchClass(pattern[p:], name[n:]); ok {
					if matched {
						_, w := utf8.DecodeRuneInString(name[n:])
						p += pw
						n += w
						continue
					}
					break // no match here: backtrack
				}
				// An unclosed "[" is literal.
				if name[n] == '[' {
					p++
					n++
					continue
				}
			default:
				pr, pw := utf8.DecodeRuneInString(pattern[p:])
				nr, nw := utf8.DecodeRuneInString(name[n:])
				if pr == nr {
					p += pw
					n += nw
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last "*" take one more character.
		_, w := utf8.DecodeRuneInString(name[starN:])
		starN += w
		p, n = starP+1, starN
	}
	return strings.Trim(pattern[p:], "*") == ""
}

// matchClass matches the character class at the start of pattern ("[...]")
// against the first character of name. ok is false when the class is not
// closed; width is the class's length in pattern.
func matchClass(pattern, name string) (ok bool, width int, matched bool) {
	i := 1
	negate := false
	if i < len(pattern) && pattern[i] == '!' {
		negate = true
		i++
	}
	c, _ := utf8.DecodeRuneInString(name)
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return true, i + 1, matched != negate
		}
		first = false
		lo, w := utf8.DecodeRuneInString(pattern[i:])
		i += w
		hi := lo
		if i+1 < len(pattern) && pattern[i] == '-' && pattern[i+1] != ']' {
			hi, w = utf8.DecodeRuneInString(pattern[i+1:])
			i += 1 + w
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, false
}
