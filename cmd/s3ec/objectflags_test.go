package main

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestParseMetadata(t *testing.T) {
	for in, want := range map[string]map[string]string{
		"a=1":              {"a": "1"},
		"a=1,b=x=y":        {"a": "1", "b": "x=y"},
		`{"a":"1","b":""}`: {"a": "1", "b": ""},
	} {
		got, err := parseMetadata(in)
		if err != nil || len(got) != len(want) {
			t.Errorf("parseMetadata(%q) = %v, %v", in, got, err)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("parseMetadata(%q)[%q] = %q, want %q", in, k, got[k], v)
			}
		}
	}
	for _, in := range []string{"a", "=1", "a=1,a=2", `{"a":1}`, `{`, `{"a":"1","a":"2"}`, `{"a":"1"}}`, `{"a":"1"} x`} {
		if _, err := parseMetadata(in); err == nil {
			t.Errorf("parseMetadata(%q) accepted", in)
		}
	}
}

// TestObjectSettingsInputs checks what the flags put in an upload's and a
// copy's request.
func TestObjectSettingsInputs(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	o := &objectFlags{metadata: "team=blue", cacheControl: "no-cache", storageClass: "STANDARD_IA",
		sseC: "AES256", sseCKey: base64.StdEncoding.EncodeToString(key)}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	var in s3.PutObjectInput
	o.put(&in, "dir/photo.png")
	sum := md5.Sum(key)
	switch {
	case aws.ToString(in.ContentType) != "image/png":
		t.Errorf("content type %q", aws.ToString(in.ContentType))
	case in.Metadata["team"] != "blue" || aws.ToString(in.CacheControl) != "no-cache" || in.StorageClass != types.StorageClassStandardIa:
		t.Errorf("settings %v %q %q", in.Metadata, aws.ToString(in.CacheControl), in.StorageClass)
	case aws.ToString(in.SSECustomerKey) != base64.StdEncoding.EncodeToString(key) || aws.ToString(in.SSECustomerKeyMD5) != base64.StdEncoding.EncodeToString(sum[:]):
		t.Error("the SSE-C key or its MD5 is not what S3 expects (both in base64)")
	}
	var plain s3.PutObjectInput
	(&objectFlags{}).put(&plain, "")
	if aws.ToString(plain.ContentType) != defaultContentType {
		t.Errorf("stdin: content type %q", aws.ToString(plain.ContentType))
	}
	(&objectFlags{}).put(&plain, "noextension")
	if aws.ToString(plain.ContentType) != defaultContentType {
		t.Errorf("no extension: content type %q", aws.ToString(plain.ContentType))
	}
	var cp s3.CopyObjectInput
	(&objectFlags{contentType: "text/csv"}).copyIn(&cp, "x")
	if cp.MetadataDirective != types.MetadataDirectiveReplace || aws.ToString(cp.ContentType) != "text/csv" {
		t.Errorf("copy with a content type: %v %q", cp.MetadataDirective, aws.ToString(cp.ContentType))
	}
	var keep s3.CopyObjectInput
	(&objectFlags{storageClass: "GLACIER_IR"}).copyIn(&keep, "x")
	if keep.MetadataDirective != "" || keep.ContentType != nil || keep.StorageClass != types.StorageClassGlacierIr {
		t.Errorf("copy without metadata settings must keep the source's: %+v", keep)
	}
}

// TestSSECKeyNotShown checks that a bad customer key is refused without
// echoing it.
func TestSSECKeyNotShown(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	o := &objectFlags{sseC: "AES256", sseCKey: secret}
	err := o.check()
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "sixteen") {
		t.Errorf("error %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	os.WriteFile(p, make([]byte, 32), 0o600)
	o = &objectFlags{sseC: "AES256", sseCKey: "fileb://" + p}
	if err := o.check(); err != nil || o.ssecKey != base64.StdEncoding.EncodeToString(make([]byte, 32)) {
		t.Errorf("fileb: %v", err)
	}
}

// TestHideTemp makes a download's file errors name the destination, never
// the temporary file (issue 13 #3).
func TestHideTemp(t *testing.T) {
	dest := filepath.Join("nodir", "sub", "hello.txt")
	tmp := filepath.Join("nodir", "sub", ".hello.txt.0123456789ab.s3ec-tmp")
	for _, err := range []error{
		&fs.PathError{Op: "open", Path: tmp, Err: fs.ErrNotExist},
		&objectErr{url: s3URL{bucket: "b", key: "k"}, err: &fs.PathError{Op: "write", Path: tmp, Err: errors.New("no space left on device")}},
		&os.LinkError{Op: "rename", Old: ".hello.txt.0123456789ab.s3ec-tmp", New: dest, Err: errors.New("cross-device link")},
	} {
		got := hideTemp(err, dest)
		if strings.Contains(got.Error(), "s3ec-tmp") || !strings.Contains(got.Error(), dest) {
			t.Errorf("hideTemp(%v) = %v", err, got)
		}
	}
	if got := hideTemp(&fs.PathError{Op: "open", Path: tmp, Err: fs.ErrNotExist}, dest); !errors.Is(got, fs.ErrNotExist) {
		t.Error("the error's class is lost")
	}
}
