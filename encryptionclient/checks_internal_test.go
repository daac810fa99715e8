package encryptionclient

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Every checksum field of every input that carries a body, or completes
// one, is refused when set — also fields a newer SDK adds, which the
// reflection finds — and ChecksumAlgorithm (computed by the SDK over the
// ciphertext) is not.
func TestRefusePlaintextChecksums(t *testing.T) {
	for _, in := range []any{&s3.PutObjectInput{}, &s3.UploadPartInput{}, &s3.CompleteMultipartUploadInput{}} {
		v := reflect.ValueOf(in).Elem()
		name := v.Type().Name()
		if err := refusePlaintextChecksums(in); err != nil {
			t.Fatalf("%s without checksums: %v", name, err)
		}
		refused := 0
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Type != reflect.TypeFor[*string]() || !(strings.HasPrefix(f.Name, "Checksum") || f.Name == "ContentMD5") {
				continue
			}
			v.Field(i).Set(reflect.ValueOf(aws.String("AAAA")))
			err := refusePlaintextChecksums(in)
			if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), f.Name) {
				t.Errorf("%s.%s set: %v, want ErrInvalidInput naming the field", name, f.Name, err)
			}
			v.Field(i).Set(reflect.Zero(f.Type))
			refused++
		}
		// The SDK's inputs had 10 or 11 such fields when this was written.
		if refused < 10 {
			t.Errorf("%s: only %d checksum fields found", name, refused)
		}
	}
	put := &s3.PutObjectInput{ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c}
	if err := refusePlaintextChecksums(put); err != nil {
		t.Fatalf("ChecksumAlgorithm: %v", err)
	}
}

// A PutObject or Upload that would append to an object is refused: an
// encrypted object is one GCM message.
func TestCheckPutInputRefusesAppend(t *testing.T) {
	in := &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), WriteOffsetBytes: aws.Int64(0)}
	if err := checkPutInput(nil, in); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("WriteOffsetBytes: %v, want ErrInvalidInput", err)
	}
}
