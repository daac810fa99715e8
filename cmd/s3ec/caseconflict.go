package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Case conflicts of downloads (sync, cp -r and mv -r from S3): S3 keys are
// case-sensitive, many file systems are not (macOS, Windows; and macOS
// also folds Unicode normalization). Two keys that differ only so, or a
// key and an existing file that differ only so, are one file there: the
// last download wins and the other object's content is gone from the
// directory without a word. --case-conflict says what to do, with the aws
// CLI's values and default:
//
//	error   the command fails before any download
//	warn    a warning on stderr for each, and the downloads run (default)
//	skip    the later object (in key order), or the object whose namesake
//	        file exists, is not downloaded; a warning says so
//	ignore  nothing is checked
//
// In every mode, sync --delete never deletes a local file whose name
// folds to that of an object it downloads or skips: on a case-insensitive
// file system it is the same file.

const caseConflictUsage = "downloads of several objects: what to do with keys that differ from another key, or from an existing file, only by case (one file on a case-insensitive file system): `MODE` error, warn (default), skip or ignore"

// registerCaseConflict defines --case-conflict into *p.
func registerCaseConflict(fs *flagSet, p *string) {
	*p = "warn"
	fs.funcVar("case-conflict", caseConflictUsage, func(s string) error {
		switch s {
		case "error", "warn", "skip", "ignore":
			*p = s
			return nil
		}
		return fmt.Errorf("%q is not one of error, warn, skip, ignore", s)
	})
}

// foldName is the name a case-insensitive file system sees: normalized
// (NFC) and case-folded.
func foldName(s string) string {
	return strings.ToLower(strings.ToUpper(norm.NFC.String(s)))
}

// caseChecker finds the case conflicts of one download of many objects
// into dir.
type caseChecker struct {
	e    *env
	mode string
	dir  string
	// taken maps the folded local path of every object planned so far
	// to its address.
	taken map[string]s3URL
	// entries caches the names in each local directory.
	entries map[string]dirNames
}

func newCaseChecker(e *env, mode, dir string) *caseChecker {
	return &caseChecker{e: e, mode: mode, dir: dir, taken: map[string]s3URL{}, entries: map[string]dirNames{}}
}

// check reports whether obj, to be downloaded to name (a path checked by
// localPath, below dir), may be: false when it is to be skipped. An error
// (mode error) ends the command before any download. Either way, the
// folded name is recorded: sync --delete keeps its namesakes (keeps).
func (cc *caseChecker) check(obj s3URL, name string) (bool, error) {
	folded := foldName(filepath.ToSlash(name))
	if cc.mode == "ignore" {
		if _, ok := cc.taken[folded]; !ok {
			cc.taken[folded] = obj
		}
		return true, nil
	}
	var why string
	if other, ok := cc.taken[folded]; ok {
		why = fmt.Sprintf("its key differs from that of %s only by case", other)
	} else if file := cc.namesake(name); file != "" {
		why = fmt.Sprintf("it differs from the existing file %s only by case", displayLocal(file))
	}
	if _, ok := cc.taken[folded]; !ok {
		cc.taken[folded] = obj
	}
	if why == "" {
		return true, nil
	}
	where := displayLocal(filepath.Join(cc.dir, name))
	switch cc.mode {
	case "error":
		return false, &codedError{code: exitOther, err: fmt.Errorf("%s: %s: both would be one file, %s, on a case-insensitive file system; nothing was downloaded (--case-conflict error)", visible(obj.String()), why, visible(where))}
	case "skip":
		fmt.Fprintf(cc.e.stderr, "s3ec: warning: %s: %s: skipped, as both would be one file, %s, on a case-insensitive file system (--case-conflict skip)\n", visible(obj.String()), why, visible(where))
		return false, nil
	}
	fmt.Fprintf(cc.e.stderr, "s3ec: warning: %s: %s: on a case-insensitive file system both are one file, %s, and the last written wins (--case-conflict skip or error avoids it)\n", visible(obj.String()), why, visible(where))
	return true, nil
}

// namesake returns the path of an existing entry beside name whose name
// folds to name's but differs from it, when no entry is named name
// exactly (both existing prove a case-sensitive file system); "" when
// there is none.
func (cc *caseChecker) namesake(name string) string {
	sub, base := filepath.Split(name)
	d, ok := cc.entries[sub]
	if !ok {
		d = dirNames{exact: map[string]bool{}, folded: map[string]string{}}
		if des, err := os.ReadDir(filepath.Join(cc.dir, sub)); err == nil {
			for _, de := range des {
				d.exact[de.Name()] = true
				d.folded[foldName(de.Name())] = de.Name()
			}
		}
		cc.entries[sub] = d
	}
	if d.exact[base] {
		return ""
	}
	if n, ok := d.folded[foldName(base)]; ok {
		return filepath.Join(cc.dir, sub, n)
	}
	return ""
}

// dirNames are the names in one local directory.
type dirNames struct {
	exact  map[string]bool
	folded map[string]string // folded name -> a name
}

// keeps reports whether rel (a slash-separated path below dir) folds to
// the name of an object of the download, checked or skipped.
func (cc *caseChecker) keeps(rel string) bool {
	_, ok := cc.taken[foldName(rel)]
	return ok
}
