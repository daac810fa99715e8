#!/usr/bin/env bash
# Runs the client test suite against real S3 servers: versitygw and MinIO,
# installed into .bin/ and started on 127.0.0.1. With S3EC_TEST_S3_ENDPOINT
# (and credentials) already set, runs against that server only (e.g. AWS S3).
#
#   scripts/integration.sh [servers...]   # default: versitygw minio
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh
trap stop_servers EXIT

# The packages whose tests talk to S3.
PKGS=(./encryptionclient/... ./cmd/...)

run_suite() { # name endpoint
  echo "== client suite against $1 ($2)"
  S3EC_TEST_S3_ENDPOINT=$2 S3EC_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY S3EC_TEST_S3_SECRET_KEY=$S3_SECRET_KEY \
    S3EC_TEST_S3_NAME=$1 go test -count=1 "${PKGS[@]}"
}

if [[ -n ${S3EC_TEST_S3_ENDPOINT:-} ]]; then
  echo "== client suite against ${S3EC_TEST_S3_NAME:-$S3EC_TEST_S3_ENDPOINT}"
  go test -count=1 "${PKGS[@]}"
  exit 0
fi

servers=("$@")
[[ ${#servers[@]} -gt 0 ]] || servers=(versitygw minio)
for s in "${servers[@]}"; do
  case $s in
    versitygw) start_versitygw; run_suite versitygw "$VERSITYGW_ENDPOINT" ;;
    minio) start_minio; run_suite minio "$MINIO_ENDPOINT" ;;
    *) echo "unknown server $s" >&2; exit 2 ;;
  esac
done
