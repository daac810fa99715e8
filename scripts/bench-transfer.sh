#!/usr/bin/env bash
# Benchmarks the encryption client's parallel Upload and Download against
# the plain aws-sdk-go-v2 transfer manager (feature/s3/manager) on a fresh
# local versitygw (installed into .bin/ on first use): 1 GiB at 1, 2 and 4
# workers, each transfer in its own process for its peak RSS. Arguments go
# to internal/tools/transferbench (in the nested module internal/tools, built here
# with `go -C internal/tools`), e.g.
#
#   scripts/bench-transfer.sh                 # 1 GiB, 8 MiB parts, 3 runs
#   scripts/bench-transfer.sh -runs 5 -concurrency 1,2,4,8
#   scripts/bench-transfer.sh -size 256MiB -part-size 16MiB
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh

BIN=$S3EC_WORK/transferbench
cleanup() {
  stop_servers
  # The server's data directory holds the objects of this run only.
  [[ -n ${VERSITYGW_ENDPOINT:-} ]] && rm -rf "$S3EC_WORK/versitygw-${VERSITYGW_ENDPOINT##*:}"
  rm -f "$BIN"
  return 0
}
trap cleanup EXIT

# A static binary: no C library in the measured RSS.
CGO_ENABLED=0 go -C internal/tools build -o "$BIN" ./transferbench
start_versitygw
"$BIN" -endpoint "$VERSITYGW_ENDPOINT" -access-key "$S3_ACCESS_KEY" -secret-key "$S3_SECRET_KEY" "$@"
