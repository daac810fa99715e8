//go:build !linux

package objectcrypto

// prefaulter populates a fresh buffer's pages ahead of its reads on Linux
// (prefault_linux.go); elsewhere it does nothing.
type prefaulter struct{}

func startPrefault([]byte, bool) *prefaulter { return nil }
func (p *prefaulter) ahead(int)              {}
func (p *prefaulter) stop()                  {}
