//go:build race

package gcmstream

func init() { raceEnabled = true }
