#!/usr/bin/env bash
# Runs the client test suite, the bulk-job suite and the CLI's tests against
# real S3 servers: versitygw and MinIO, installed into .bin/ and started on
# 127.0.0.1. With S3EC_TEST_S3_ENDPOINT (and credentials) already set, runs
# against that server only (e.g. AWS S3).
#
# The target local-kms runs the KMS parts instead against local-kms, an
# independent KMS emulator (not AWS's), with the in-process S3 server: the
# TestKMSPeer tests of materials/ and tests/encryptionclient/ and the client suite
# with its "kms" keyring on local-kms (S3EC_TEST_KMS_ENDPOINT). Where the
# two KMS implementations differ, see docs/KMS-SERVERS.md.
#
#   scripts/integration.sh [servers...]   # default: versitygw minio; or local-kms
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh
trap stop_servers EXIT

# The tests that talk to S3, each inside its own module: the client suite
# (tests/encryptionclient, module tests/), the bulk-job suite (tests/bulk:
# Rewrap, ReEncrypt, Adopt, Verify and Inspect jobs over manifests, with the
# KMS test server) and the CLI's (module cmd/s3ec). All run even when one
# fails.
s3_tests() {
  local rc=0
  go -C tests test -count=1 ./encryptionclient/... || rc=1
  go -C tests test -count=1 ./bulk/... || rc=1
  go -C cmd/s3ec test -count=1 ./... || rc=1
  return $rc
}

run_suite() { # name endpoint
  echo "== client suite against $1 ($2)"
  S3EC_TEST_S3_ENDPOINT=$2 S3EC_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY S3EC_TEST_S3_SECRET_KEY=$S3_SECRET_KEY \
    S3EC_TEST_S3_NAME=$1 s3_tests
}

# Client-suite tests that cannot run with the "kms" keyring on local-kms
# (the tests that need the KMS test server skip by themselves):
#  - TestTamperMatrix: local-kms does not authenticate the key reference in
#    its ciphertext blobs when Decrypt names the key, so a flipped bit there
#    reads back the original plaintext (docs/KMS-SERVERS.md; pinned by
#    TestKMSPeerWrongKeyAndCorrupt);
#  - TestErrorCatalogue: compares messages, which quote the KMS's own text,
#    with docs/ERRORS.md;
#  - TestRewrapMultipartCopy and TestRewrapMultipartCopyInterrupted:
#    re-wrap the suite's "kms" key to a key of the KMS test server, a
#    ReEncrypt across two KMS servers.
LOCAL_KMS_SKIP='^(TestTamperMatrix|TestErrorCatalogue|TestRewrapMultipartCopy|TestRewrapMultipartCopyInterrupted)$'

run_local_kms() {
  start_local_kms
  echo "== KMS parts against local-kms ($LOCAL_KMS_ENDPOINT)"
  export S3EC_TEST_KMS_ENDPOINT=$LOCAL_KMS_ENDPOINT S3EC_TEST_KMS_NAME=local-kms S3EC_TEST_KMS_REGION=$LOCAL_KMS_REGION
  local rc=0
  go test -count=1 -run 'TestKMSPeer' ./materials/ || rc=1
  go -C tests test -count=1 -skip "$LOCAL_KMS_SKIP" ./encryptionclient/ || rc=1
  unset S3EC_TEST_KMS_ENDPOINT S3EC_TEST_KMS_NAME S3EC_TEST_KMS_REGION
  return $rc
}

if [[ -n ${S3EC_TEST_S3_ENDPOINT:-} ]]; then
  echo "== client suite against ${S3EC_TEST_S3_NAME:-$S3EC_TEST_S3_ENDPOINT}"
  s3_tests
  exit 0
fi

servers=("$@")
[[ ${#servers[@]} -gt 0 ]] || servers=(versitygw minio)
# Every server runs even when one fails; the exit code says whether any did.
failed=()
for s in "${servers[@]}"; do
  case $s in
    versitygw) start_versitygw; run_suite versitygw "$VERSITYGW_ENDPOINT" || failed+=("$s") ;;
    minio) start_minio; run_suite minio "$MINIO_ENDPOINT" || failed+=("$s") ;;
    local-kms) run_local_kms || failed+=("$s") ;;
    *) echo "unknown server $s" >&2; exit 2 ;;
  esac
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "== failed against: ${failed[*]}" >&2
  exit 1
fi
