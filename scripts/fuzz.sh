#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded time each.
#   scripts/fuzz.sh [fuzztime]    # default 15s per target
# A target that finds a failing input fails the run (the input is saved
# under the package's testdata/fuzz/ and replayed by every go test from
# then on). A run that fails without writing one (the fuzzing engine's own
# trouble on a loaded machine: a worker that did not answer in time) is
# shown in full and tried once more.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-15s}
count=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "-- $pkg $target ($fuzztime)"
    corpus="$(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$target"
    inputs() { { find "$corpus" -type f 2>/dev/null || true; } | wc -l; }
    before=$(inputs)
    if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
      echo "$out" | tail -n 30
      if [[ $(inputs) -gt $before ]]; then
        echo "failing input written to $corpus"; exit 1
      fi
      echo "-- no failing input was written; $target once more"
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tail -n 2
      [[ ${PIPESTATUS[0]} -eq 0 ]]
    else
      echo "$out" | tail -n 2
    fi
    count=$((count + 1))
  done
done
echo "ran $count fuzz targets for $fuzztime each"
[[ $count -gt 0 ]]
