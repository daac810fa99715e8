// Package listguard tells when a server's paginated listing comes back on
// itself: a continuation token it handed out before means the same pages
// again, without end. bulk's listings and the client's RotatePrefix share
// it.
package listguard

// Tokens follows the continuation tokens of one listing with Brent's
// cycle check: it keeps the token of page 2^k, so memory stays constant
// whatever the number of pages, and a cycle of C pages entered after L
// others is found within 2(L+C)+C pages. The zero value is ready for the
// first page.
type Tokens struct {
	saved      string
	pages, pow int64
}

// Next records tok, the continuation token of the page just answered to a
// request sent with token sent (empty for the first), and reports whether
// it is new: false when the server handed it out before (it is the one
// just sent, or the one the check saved), so that the listing would loop.
func (t *Tokens) Next(sent, tok string) bool {
	if tok == sent || (t.pages > 0 && tok == t.saved) {
		return false
	}
	t.pages++
	if t.pow == 0 || t.pages == t.pow {
		t.saved = tok
		t.pow = 2 * max(t.pow, 1)
	}
	return true
}
