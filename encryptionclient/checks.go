package encryptionclient

import (
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/envelope"
)

// The checks of what a caller asks for, made before any request is sent
// and before a data key is generated.

// checkObjectWrite checks what every write of an encrypted object needs:
// a bucket and a key, user metadata that can be stored as given, and no
// SSE-C key over plain HTTP (each of sseKeys).
func checkObjectWrite(client S3API, bucket, key *string, meta map[string]string, sseKeys ...*string) error {
	if aws.ToString(bucket) == "" || aws.ToString(key) == "" {
		return invalid("bucket and key are required")
	}
	if err := checkUserMetadata(meta); err != nil {
		return err
	}
	for _, k := range sseKeys {
		if err := checkSSEC(client, k); err != nil {
			return err
		}
	}
	return nil
}

// checkPutInput checks a PutObject or Upload input: an object write
// without checksums of the plaintext, and no append (WriteOffsetBytes): an
// encrypted object is one GCM message and cannot be extended.
func checkPutInput(client S3API, in *s3.PutObjectInput) error {
	if err := checkObjectWrite(client, in.Bucket, in.Key, in.Metadata, in.SSECustomerKey); err != nil {
		return err
	}
	if in.WriteOffsetBytes != nil {
		return invalid("WriteOffsetBytes: an encrypted object cannot be appended to")
	}
	return refusePlaintextChecksums(in)
}

// checkUserMetadata refuses caller metadata that cannot be stored as
// given: envelope names; names that HTTP cannot carry; values with control
// characters; and names that differ only in case, of which S3 (whose
// metadata names are case-insensitive) would keep one, chosen by map order.
// The error names the first offending name in sort order, so that it is the
// same on every call.
func checkUserMetadata(m map[string]string) error {
	var bad string
	var why error
	report := func(k string, err error) {
		if why == nil || k < bad {
			bad, why = k, err
		}
	}
	seen := make(map[string]string, len(m))
	for k, v := range m {
		lk := strings.ToLower(k)
		switch {
		case envelope.IsReservedKey(k) || strings.EqualFold(k, instrBindingKey):
			report(k, invalid("metadata name %q is reserved for the encryption envelope", k))
		case k == "" || strings.IndexFunc(k, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
		}) >= 0:
			report(k, invalid("metadata name %q is not a valid HTTP header name", k))
		case strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0:
			report(k, invalid("metadata %q: the value holds a control character, which HTTP cannot carry", k))
		}
		if other, dup := seen[lk]; dup {
			a, b := min(k, other), max(k, other)
			report(a, invalid("metadata names %q and %q differ only in case; S3 would keep one of them", a, b))
		} else {
			seen[lk] = k
		}
	}
	return why
}

// refusePlaintextChecksums refuses the precomputed checksums an input
// (a pointer to an SDK input struct) carries: every *string field named
// Checksum… or ContentMD5, found by reflection so that checksum fields a
// newer SDK adds are refused too. A checksum of the plaintext cannot match
// the ciphertext that S3 receives and stores.
func refusePlaintextChecksums(in any) error {
	v := reflect.ValueOf(in).Elem()
	var set []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type == reflect.TypeFor[*string]() && (strings.HasPrefix(f.Name, "Checksum") || f.Name == "ContentMD5") && !v.Field(i).IsNil() {
			set = append(set, f.Name)
		}
	}
	if len(set) > 0 {
		return invalid("%s: a precomputed checksum of the plaintext cannot match the ciphertext; set ChecksumAlgorithm instead (on the requests that send the body), and the SDK computes it over what is sent", strings.Join(set, ", "))
	}
	return nil
}

func checkPartSize(n int64, l partLimits) error {
	if n < l.minPart || n > MaxPartSize || n%16 != 0 {
		return invalid("part size %d: want a multiple of 16 from %d to %d bytes", n, l.minPart, int64(MaxPartSize))
	}
	return nil
}
