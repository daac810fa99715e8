#!/usr/bin/env bash
# Measures data-key caching on many small objects: KMS calls and time per
# object of 10,000 puts and gets of 1 KiB through the encryption client with
# a KMS keyring, without and with materials.CachingKeyring, against the
# plain S3 client, all on the in-process S3 server and the KMS test server.
# Arguments go to internal/tools/cachebench (in the nested module internal/tools,
# built here with `go -C internal/tools`), e.g.
#
#   scripts/bench-cache.sh                      # 10,000 x 1 KiB
#   scripts/bench-cache.sh -kms-latency 5ms     # with a KMS round trip like AWS's
#   scripts/bench-cache.sh -n 2000 -size 4096 -max-objects 100
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go -C internal/tools build -o "$tmp/cachebench" ./cachebench
"$tmp/cachebench" "$@"
