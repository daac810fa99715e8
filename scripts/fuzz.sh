#!/usr/bin/env bash
# Runs every fuzz target of the repository for a bounded time each, in
# every module of scripts/modules.sh (a package's targets run inside its
# own module: go -C <module> test -fuzz ...).
#   scripts/fuzz.sh [fuzztime]    # default 15s per target
# A target that finds a failing input fails the run (the input is saved
# under the package's testdata/fuzz/ and replayed by every go test from
# then on). A run that fails without writing one (the fuzzing engine's own
# trouble on a loaded machine: a worker that did not answer in time) is
# shown in full and tried once more.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/modules.sh
check_modules
fuzztime=${1:-15s}
count=0
for mod in "${MODULES[@]}"; do
  for pkg in $(go -C "$mod" list ./...); do
    # Only packages with fuzz targets are asked for their list (each -list
    # builds the package's test binary).
    [[ -n $(go -C "$mod" list -f '{{range .TestGoFiles}}{{$.Dir}}/{{.}} {{end}}{{range .XTestGoFiles}}{{$.Dir}}/{{.}} {{end}}' "$pkg" | xargs -r grep -l '^func Fuzz' 2>/dev/null) ]] || continue
    for target in $(go -C "$mod" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
      echo "-- $pkg $target ($fuzztime)"
      corpus="$(go -C "$mod" list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$target"
      inputs() { { find "$corpus" -type f 2>/dev/null || true; } | wc -l; }
      before=$(inputs)
      if ! out=$(go -C "$mod" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
        echo "$out" | tail -n 30
        if [[ $(inputs) -gt $before ]]; then
          echo "failing input written to $corpus"; exit 1
        fi
        echo "-- no failing input was written; $target once more"
        go -C "$mod" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tail -n 2
        [[ ${PIPESTATUS[0]} -eq 0 ]]
      else
        echo "$out" | tail -n 2
      fi
      count=$((count + 1))
    done
  done
done
echo "ran $count fuzz targets for $fuzztime each"
[[ $count -gt 0 ]]
