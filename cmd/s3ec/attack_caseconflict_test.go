package main

// Attack tests: downloads of keys that are one file on a case-insensitive
// file system (macOS, Windows), where the last download would win and the
// other object's content vanish from the directory without a word.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Keys that differ only by case or by Unicode normalization, and a key
// whose namesake file exists, are found by sync, cp -r and mv -r in every
// --case-conflict mode: warn (the default) says so and downloads, skip
// downloads the first in key order and says which it skipped, error fails
// before any download, ignore says nothing. This file system is
// case-sensitive, so "downloads" lands every file; what is checked is
// what the command says and writes. An unknown mode is a usage error.
func TestAttackCaseConflictingKeys(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	nfc, nfd := "caf\u00e9.txt", "cafe\u0301.txt"
	for _, k := range []string{"A.txt", "a.txt", nfc, nfd, "b.txt", "plain.txt"} {
		w.writeFile("src/"+k, []byte("content of "+k))
		w.run(append([]string{"cp", "src/" + k, w.url("p/" + k)}, aes...)...).want(t, exitOK)
	}
	type want struct {
		code          int
		files, absent []string
		warns         int
	}
	all := []string{"A.txt", "a.txt", nfc, nfd, "b.txt", "plain.txt"}
	for _, tc := range []struct {
		mode string
		want want
	}{
		{"", want{exitOK, all, nil, 3}}, // the default: warn
		{"warn", want{exitOK, all, nil, 3}},
		{"skip", want{exitOK, []string{"A.txt", nfd, "plain.txt"}, []string{"a.txt", nfc, "b.txt"}, 3}},
		{"error", want{exitOther, nil, all, 0}},
		{"ignore", want{exitOK, all, nil, 0}},
	} {
		for _, cmd := range [][]string{{"cp", "-r"}, {"sync"}} {
			name := strings.Join(cmd, " ") + " " + tc.mode
			t.Run(name, func(t *testing.T) {
				dir := "dst-" + strings.ReplaceAll(name, " ", "_")
				// An existing file B.TXT: b.txt is its namesake.
				w.writeFile(dir+"/B.TXT", []byte("local"))
				args := append(append([]string{}, cmd...), w.url("p/"), dir)
				if tc.mode != "" {
					args = append(args, "--case-conflict", tc.mode)
				}
				r := w.run(append(args, aes...)...)
				if r.code != tc.want.code {
					t.Fatalf("exit %d, want %d: %s%s", r.code, tc.want.code, r.stdout, r.stderr)
				}
				for _, f := range tc.want.files {
					if got, err := os.ReadFile(filepath.Join(w.dir, dir, f)); err != nil || string(got) != "content of "+f {
						t.Errorf("%s: %q, %v", f, got, err)
					}
				}
				for _, f := range tc.want.absent {
					if w.localExists(dir + "/" + f) {
						t.Errorf("%s was downloaded", f)
					}
				}
				if got := string(w.readFile(dir + "/B.TXT")); got != "local" {
					t.Errorf("B.TXT holds %q", got)
				}
				warns := strings.Count(r.stderr, "s3ec: warning: ")
				if tc.want.code == exitOther {
					if !strings.Contains(r.stderr, "case-insensitive") || !strings.Contains(r.stderr, "nothing was downloaded") {
						t.Errorf("stderr %q does not say why nothing was downloaded", r.stderr)
					}
				} else if warns != tc.want.warns {
					t.Errorf("%d warnings, want %d: %s", warns, tc.want.warns, r.stderr)
				}
				if tc.mode == "skip" && !strings.Contains(r.stderr, "a.txt") {
					t.Errorf("the skip does not name a.txt: %s", r.stderr)
				}
			})
		}
	}
	r := w.run(append([]string{"cp", "-r", w.url("p/"), "d", "--case-conflict", "maybe"}, aes...)...).want(t, exitUsage)
	if !strings.Contains(r.stderr, "case-conflict") {
		t.Errorf("stderr %q does not name the flag", r.stderr)
	}
}

// sync --delete does not delete a local file whose name folds to an
// object's (on a case-insensitive file system it is the file the object
// was just downloaded to; here, a file of another case that S3 lacks),
// in any mode; files no object folds to are deleted as before.
func TestAttackSyncDeleteKeepsCaseNamesakes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	aes, _ := w.aesKey("k")
	w.writeFile("src/c.txt", []byte("object"))
	w.run(append([]string{"cp", "src/c.txt", w.url("q/c.txt")}, aes...)...).want(t, exitOK)
	for _, mode := range []string{"warn", "skip", "ignore"} {
		dir := "dst-" + mode
		w.writeFile(dir+"/C.txt", []byte("namesake"))
		w.writeFile(dir+"/gone.txt", []byte("no object"))
		w.run(append([]string{"sync", "--delete", "--case-conflict", mode, w.url("q/"), dir}, aes...)...).want(t, exitOK)
		if !w.localExists(dir + "/C.txt") {
			t.Errorf("%s: sync --delete deleted C.txt, the namesake of c.txt", mode)
		}
		if w.localExists(dir + "/gone.txt") {
			t.Errorf("%s: gone.txt, which no object names, was kept", mode)
		}
	}
}
