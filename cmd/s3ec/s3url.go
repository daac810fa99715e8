package main

import "strings"

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
	if bucket == "" {
		return s3URL{}, usagef("%q names no bucket", s)
	}
	return s3URL{bucket: bucket, key: key}, nil
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
