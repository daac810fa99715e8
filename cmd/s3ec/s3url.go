package main

import (
	"strings"
	"unicode/utf8"
)

// s3URL is an s3://bucket/key address. The key may be empty (s3://bucket)
// and may end with "/" (a prefix).
type s3URL struct {
	bucket, key string
}

func (u s3URL) String() string { return "s3://" + u.bucket + "/" + u.key }

// isS3URL reports whether s is meant as an S3 address.
func isS3URL(s string) bool { return strings.HasPrefix(strings.ToLower(s), "s3://") }

// parseS3URL parses s3://bucket[/key].
func parseS3URL(s string) (s3URL, error) {
	if !isS3URL(s) {
		return s3URL{}, usagef("%q is not an s3://bucket/key address", s)
	}
	bucket, key, _ := strings.Cut(s[len("s3://"):], "/")
	switch {
	case bucket == "":
		return s3URL{}, usagef("%q names no bucket", s)
	case !validBucket(bucket):
		return s3URL{}, usagef("%q: %q is not a bucket name (letters, digits, '.', '-' and '_', starting and ending with a letter or digit, at most %d)", s, bucket, maxBucketLen)
	case !utf8.ValidString(key) || strings.ContainsRune(key, 0):
		return s3URL{}, usagef("%q: an object key must be UTF-8 without NUL characters", s)
	case len(key) > maxKeyLen:
		return s3URL{}, usagef("s3://%s/%.40s...: the key is %d bytes long; S3 allows %d", bucket, key, len(key), maxKeyLen)
	}
	return s3URL{bucket: bucket, key: key}, nil
}

// Limits of S3 addresses: S3 allows buckets of 63 characters and keys of
// 1024 bytes; some S3-compatible stores allow longer bucket names.
const (
	maxBucketLen = 255
	maxKeyLen    = 1024
)

// validBucket reports whether b can be a bucket name. It is lenient about
// case, underscores and length (S3-compatible stores differ), but a name
// must not carry anything that would change the request's path: no "/",
// no ".." or "." alone, no control characters, escapes or spaces.
func validBucket(b string) bool {
	if len(b) > maxBucketLen || !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// parseObjectURL parses the address of one object: the key must be set and
// must not end with "/".
func parseObjectURL(s string) (s3URL, error) {
	u, err := parseS3URL(s)
	if err != nil {
		return u, err
	}
	if u.key == "" || strings.HasSuffix(u.key, "/") {
		return u, usagef("%q names no object (want s3://bucket/key)", s)
	}
	return u, nil
}

// prefix returns the key as a prefix of a recursive operation: empty, or
// ending with "/".
func (u s3URL) prefix() string {
	if u.key == "" || strings.HasSuffix(u.key, "/") {
		return u.key
	}
	return u.key + "/"
}
