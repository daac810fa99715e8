#!/usr/bin/env bash
# Checks docs/COMPLIANCE.md, the S3EC specification compliance matrix.
#
#   scripts/compliance.sh           check the matrix, print the counts
#   scripts/compliance.sh --strict  also fail on MUST / MUST NOT rows that are
#                                   "not met" or "met (untested)"
#   scripts/compliance.sh --run     also run every cited test (go test, per
#                                   package that defines it)
#
# A matrix row is a table row under "## Matrix" with seven cells:
#   | # | File | Section | Keyword | Requirement | Status | Evidence / reason |
# Status is one of: met, met (untested), deviation, n/a, not met.
# Rules (exit 1 when broken):
#   * every Test... name in the evidence exists as "func Name(" in a *_test.go
#     file of the repository, whatever the status;
#   * a "met" row names at least one test;
#   * every other status comes with a reason (text besides test names);
#   * rows are numbered 1..N without gaps, N equals the "requirements: N"
#     marker, and the keyword is an RFC 2119 keyword.
# Needs only bash, awk, grep, sort (and go for --run).
set -euo pipefail
cd "$(dirname "$0")/.."

strict=false run=false
for a in "$@"; do
	case $a in
	--strict) strict=true ;;
	--run) run=true ;;
	*) echo "usage: $0 [--strict] [--run]" >&2; exit 2 ;;
	esac
done

doc=docs/COMPLIANCE.md
[[ -f $doc ]] || { echo "compliance: $doc not found" >&2; exit 1; }

# Every test function: "Name<TAB>package dir".
tests=$(mktemp)
trap 'rm -f "$tests"' EXIT
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files -co --exclude-standard '*_test.go')
else
	files=$(find . -name '*_test.go' -not -path './.bin/*' | sed 's|^\./||')
fi
# shellcheck disable=SC2086 # file names are repository paths without spaces
{ grep -HoE '^func Test[A-Za-z0-9_]*\(' $files /dev/null || true; } |
	sed -E 's/^(.*):func (Test[A-Za-z0-9_]*)\($/\2\t\1/' |
	awk -F'\t' '{ d = $2; sub(/\/[^\/]*$/, "", d); if (d == $2) d = "."; print $1 "\t" d }' |
	sort -u >"$tests"

awk -F'\t' -v strict="$strict" '
	FNR == NR { have[$1] = 1; next }
	function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
	function fail(msg) { errors[++nerr] = msg }
	/<!-- requirements: [0-9]+ -->/ { match($0, /[0-9]+/); expected = substr($0, RSTART, RLENGTH) + 0 }
	/^## / { inmatrix = ($0 ~ /^## Matrix/); next }
	!inmatrix || !/^\|/ { next }
	{
		line = $0
		n = split(line, c, "|")
		# "| a | b |" splits into "", " a ", " b ", "".
		if (n != 9) { fail("line " FNR ": not a 7-cell matrix row"); next }
		id = trim(c[2])
		if (id == "#" || id ~ /^-+$/) next
		if (id !~ /^[0-9]+$/) { fail("line " FNR ": row number \"" id "\""); next }
		kw = trim(c[5]); st = trim(c[7]); ev = trim(c[8])
		rows++
		if (id + 0 != rows) fail("row " id ": expected row " rows " (rows must be numbered 1..N in order)")
		if (kw !~ /^(MUST|MUST NOT|SHOULD|SHOULD NOT|MAY|SHALL|SHALL NOT|REQUIRED|RECOMMENDED|OPTIONAL)$/)
			fail("row " id ": keyword \"" kw "\"")
		if (st !~ /^(met|met \(untested\)|deviation|n\/a|not met)$/) {
			fail("row " id ": status \"" st "\" (met, met (untested), deviation, n/a, not met)")
			next
		}
		ntests = 0; rest = ev
		while (match(rest, /Test[A-Z][A-Za-z0-9_]*/)) {
			name = substr(rest, RSTART, RLENGTH)
			rest = substr(rest, RSTART + RLENGTH)
			ntests++
			if (!(name in have)) fail("row " id ": test " name " does not exist")
			cited[name] = 1
		}
		reason = ev
		gsub(/`?Test[A-Z][A-Za-z0-9_]*`?/, "", reason)
		gsub(/[ ,.;:()—-]/, "", reason)
		if (st == "met" && ntests == 0) fail("row " id " (met): names no test")
		if (st != "met" && length(reason) < 10) fail("row " id " (" st "): no reason given")
		bykw[kw]++; byst[st]++
		if (kw ~ /^MUST/) must[st]++
		if (st == "not met") notmet[++nnot] = "  row " id " [" kw "] " trim(c[6]) ": " ev
		if (kw ~ /^MUST/ && st == "met (untested)") untested[++nunt] = "  row " id " [" kw "] " trim(c[6])
	}
	END {
		if (expected == 0) fail("no \"<!-- requirements: N -->\" marker in the document")
		else if (rows != expected) fail("matrix has " rows " rows, the marker says " expected)
		printf "compliance: %d requirements\n", rows
		printf "  by keyword:"
		split("MUST|MUST NOT|SHOULD|SHOULD NOT|MAY|SHALL|SHALL NOT|REQUIRED|RECOMMENDED|OPTIONAL", kws, "|")
		for (i = 1; i in kws; i++) if (kws[i] in bykw) printf "  %s %d", kws[i], bykw[kws[i]]
		printf "\n"
		printf "  by status:  met %d  deviation %d  not applicable %d  untested %d  not met %d\n",
			byst["met"], byst["deviation"], byst["n/a"], byst["met (untested)"], byst["not met"]
		printf "  MUST/MUST NOT: met %d  deviation %d  not applicable %d  untested %d  not met %d\n",
			must["met"], must["deviation"], must["n/a"], must["met (untested)"], must["not met"]
		nc = 0; for (t in cited) nc++
		printf "  distinct tests cited: %d\n", nc
		if (nnot) { print "not met:"; for (i = 1; i <= nnot; i++) print notmet[i] }
		if (nunt) { print "MUST rows met but untested:"; for (i = 1; i <= nunt; i++) print untested[i] }
		if (strict == "true" && (must["not met"] || must["met (untested)"]))
			fail("--strict: MUST rows not met or untested")
		if (nerr) {
			print "compliance: FAILED" > "/dev/stderr"
			for (i = 1; i <= nerr; i++) print "  " errors[i] > "/dev/stderr"
			exit 1
		}
		print "compliance: ok"
	}
' "$tests" "$doc"

if $run; then
	# Run every cited test in each package that defines it, inside the Go
	# module that holds the package (tests/, cmd/s3ec, interop/ and the other
	# nested modules are modules of their own).
	names=$(awk '/^## Matrix/{m=1} m' "$doc" | grep -oE 'Test[A-Z][A-Za-z0-9_]*' | sort -u)
	pkgs=$(printf '%s\n' "$names" | awk -F'\t' 'NR==FNR { want[$1]=1; next } ($1 in want) { print $2 }' - "$tests" | sort -u)
	failed=()
	for d in $pkgs; do
		re=$(printf '%s\n' "$names" | awk -F'\t' -v d="$d" 'NR==FNR { want[$1]=1; next } ($2 == d && ($1 in want)) { printf "%s%s", sep, $1; sep="|" }' - "$tests")
		root=$d
		while [[ $root != . && ! -f $root/go.mod ]]; do root=$(dirname "$root"); done
		rel=${d#"$root"}; rel=./${rel#/}
		echo "== (cd $root && go test -count=1 -run '^($re)\$' $rel)"
		if ! (cd "$root" && go test -count=1 -run "^($re)\$" "$rel"); then
			failed+=("$d")
		fi
	done
	if ((${#failed[@]})); then
		echo "compliance: cited tests failed in: ${failed[*]}" >&2
		exit 1
	fi
	echo "compliance: every cited test passed"
fi
