package encryptionclient

import "testing"

func TestGrowPartSize(t *testing.T) {
	for _, c := range []struct {
		part, size int64
		parts      int
		want       int64
	}{
		{MinPartSize, 0, MaxUploadParts, MinPartSize},
		{MinPartSize, 10000 * MinPartSize, MaxUploadParts, MinPartSize},
		{MinPartSize, 10000*MinPartSize + 1, MaxUploadParts, MinPartSize + 16},
		{DefaultUploadPartSize, MaxObjectSize, MaxUploadParts, DefaultUploadPartSize},
		// Unknown length: enough for the largest object GCM allows.
		{MinPartSize, -1, MaxUploadParts, 6871952},
		{DefaultUploadPartSize, -1, MaxUploadParts, DefaultUploadPartSize},
		{1024, 10*1024 + 5, 4, 2576},
	} {
		got := growPartSize(c.part, c.size, c.parts)
		if got != c.want || got%16 != 0 {
			t.Errorf("growPartSize(%d, %d, %d) = %d, want %d", c.part, c.size, c.parts, got, c.want)
		}
		if c.size >= 0 && (c.size+got-1)/got > int64(c.parts) || c.size < 0 && got*int64(c.parts) < MaxObjectSize {
			t.Errorf("growPartSize(%d, %d, %d) = %d needs too many parts", c.part, c.size, c.parts, got)
		}
	}
}
