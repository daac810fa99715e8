#!/usr/bin/env bash
# Benchmarks the bulk jobs of issue 12 on a fresh local versitygw (installed
# into .bin/ on first use) with the KMS test server (internal/testkit/kmstest,
# started inside the benchmark process): Rewrap objects/s (1 KiB and 1 MiB
# objects) beside a plain self-CopyObject loop, ReEncrypt MiB/s beside plain
# GET+PUT, both at the same concurrency, and the peak RSS of a job over a
# 1,000,000-line manifest. Prints a Markdown table and PASS/FAIL lines; the
# default run takes about 3 minutes. Arguments go to internal/tools/bulkbench
# (in the nested module internal/tools, built here with `go -C
# internal/tools`), e.g.
#
#   scripts/bench-bulk.sh                        # 16 workers, 6 pairs
#   scripts/bench-bulk.sh -pairs 10 -concurrency 32
#   scripts/bench-bulk.sh -rewrap-objects 1000 -reencrypt-size 32MiB -reencrypt-objects 16
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh

BIN=$S3EC_WORK/bulkbench
cleanup() {
  stop_servers
  # The server's data directory holds the objects of this run only.
  [[ -n ${VERSITYGW_ENDPOINT:-} ]] && rm -rf "$S3EC_WORK/versitygw-${VERSITYGW_ENDPOINT##*:}"
  rm -f "$BIN"
  return 0
}
trap cleanup EXIT

# A static binary: no C library in the measured RSS.
CGO_ENABLED=0 go -C internal/tools build -o "$BIN" ./bulkbench
start_versitygw
"$BIN" -endpoint "$VERSITYGW_ENDPOINT" -access-key "$S3_ACCESS_KEY" -secret-key "$S3_SECRET_KEY" "$@"
