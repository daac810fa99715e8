#!/usr/bin/env bash
# Runs go test ./... in every Go module of the repository (the library at
# the root and the nested modules of scripts/modules.sh: the client suite
# in tests/, the CLI, the examples, the benchmark tools, the S3 test
# server). `go test ./...` alone does not cross into nested modules. Needs
# nothing but Go: the servers are in-process. Extra arguments go to every
# go test, e.g.
#
#   scripts/test.sh
#   scripts/test.sh -race -shuffle=on -count=1
#
# Every module is tested even after one fails; the exit status is 1 if any
# failed. interop/ has its own script (scripts/interop.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/modules.sh
check_modules

failed=()
for m in "${MODULES[@]}"; do
  echo "== go -C $m test $* ./..."
  if ! go -C "$m" test "$@" ./...; then
    failed+=("$m")
  fi
done
if ((${#failed[@]})); then
  echo "test: failed in: ${failed[*]}" >&2
  exit 1
fi
echo "test: every module passed (${MODULES[*]})"
