#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded time each.
#   scripts/fuzz.sh [fuzztime]    # default 15s per target
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-15s}
count=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "-- $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" | tail -n 2
    count=$((count + 1))
  done
done
echo "ran $count fuzz targets for $fuzztime each"
[[ $count -gt 0 ]]
