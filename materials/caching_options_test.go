package materials_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/materials"
)

// A negative limit is refused with the name of the CachingOptions field.
func TestNewCachingKeyringNamesTheOption(t *testing.T) {
	inner := newAESKR(t, bytes.Repeat([]byte{3}, 32))
	for field, set := range map[string]func(*materials.CachingOptions){
		"MaxObjects": func(o *materials.CachingOptions) { o.MaxObjects = -1 },
		"MaxAge":     func(o *materials.CachingOptions) { o.MaxAge = -1 },
		"MaxBytes":   func(o *materials.CachingOptions) { o.MaxBytes = -1 },
		"MaxEntries": func(o *materials.CachingOptions) { o.MaxEntries = -1 },
	} {
		_, err := materials.NewCachingKeyring(inner, set)
		if want := "CachingOptions." + field + " is negative"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("negative %s: %v, want an error saying %q", field, err, want)
		}
	}
}
