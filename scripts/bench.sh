#!/usr/bin/env bash
# Benchmarks the encryption client against the plain aws-sdk-go-v2 client on
# a fresh local versitygw (installed into .bin/ on first use). Arguments go
# to internal/tools/s3ecbench (in the nested module internal/tools, built here
# with `go -C internal/tools`), e.g.
#
#   scripts/bench.sh -runs 5
#   scripts/bench.sh -sizes 64MiB -runs 3 -unsigned -json /tmp/bench.json
#   scripts/bench.sh -runs 1 -profile /tmp/s3ecprof
#   scripts/bench.sh -sizes 64MiB,256MiB -runs 8   # cold and warm 64 MiB GETs, a spooled 256 MiB GET
#   scripts/bench.sh -sizes 64MiB -read-size 32768 -warm-gets 6 -spool-dir /dev/shm
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh

cleanup() {
  stop_servers
  # The server's data directory holds the objects of this run only.
  [[ -n ${VERSITYGW_ENDPOINT:-} ]] && rm -rf "$S3EC_WORK/versitygw-${VERSITYGW_ENDPOINT##*:}"
  rm -f "$S3EC_WORK/s3ecbench"
  return 0
}
trap cleanup EXIT

BIN=$S3EC_WORK/s3ecbench
go -C internal/tools build -o "$BIN" ./s3ecbench
start_versitygw
"$BIN" -endpoint "$VERSITYGW_ENDPOINT" \
  -access-key "$S3_ACCESS_KEY" -secret-key "$S3_SECRET_KEY" "$@"
