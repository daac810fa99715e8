package listguard

import (
	"fmt"
	"testing"
)

// Tokens that keep changing are new; a cycle of C pages entered after L
// others is found within 2(L+C)+C pages.
func TestTokensFindCycles(t *testing.T) {
	var g Tokens
	sent := ""
	for i := range 10000 {
		tok := fmt.Sprint("t", i)
		if !g.Next(sent, tok) {
			t.Fatalf("fresh token %s taken for a repeat", tok)
		}
		sent = tok
	}
	for _, c := range []struct{ lead, cycle int }{{0, 1}, {0, 2}, {3, 1}, {5, 7}, {100, 33}, {1, 1000}} {
		var g Tokens
		sent, found := "", -1
		bound := 2*(c.lead+c.cycle) + c.cycle
		for page := range bound + 1 {
			tok := fmt.Sprint("lead", page)
			if page >= c.lead {
				tok = fmt.Sprint("cyc", (page-c.lead)%c.cycle)
			}
			if !g.Next(sent, tok) {
				found = page
				break
			}
			sent = tok
		}
		if found < 0 || found > bound {
			t.Errorf("lead %d, cycle %d: found at page %d", c.lead, c.cycle, found)
		}
	}
}
