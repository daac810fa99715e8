#!/usr/bin/env bash
# Installs and starts the real S3 servers used by the integration tests and
# benchmarks, on 127.0.0.1, with their data under .work/. Source it:
#
#   source scripts/servers.sh
#   start_versitygw   # sets VERSITYGW_ENDPOINT
#   start_minio       # sets MINIO_ENDPOINT
#   start_local_kms   # sets LOCAL_KMS_ENDPOINT (a KMS emulator, not S3)
#   stop_servers
#
# Builds go to .bin/ (ignored by git) and are reused by later runs.
set -euo pipefail

S3EC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S3EC_BIN=$S3EC_ROOT/.bin
S3EC_WORK=$S3EC_ROOT/.work
VERSITYGW_VERSION=v1.8.0
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
LOCAL_KMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6
# local-kms's keys live in this region and account (not the KMS test
# server's 111122223333, so that no test can rely on that one).
LOCAL_KMS_REGION=us-east-1
LOCAL_KMS_ACCOUNT=444455556666
S3_ACCESS_KEY=s3ecadmin
S3_SECRET_KEY=s3ecsecret-not-for-production
SERVER_PIDS=()

mkdir -p "$S3EC_BIN" "$S3EC_WORK"

install_versitygw() {
  local stamp=$S3EC_BIN/.versitygw-$VERSITYGW_VERSION
  if [[ ! -x $S3EC_BIN/versitygw || ! -f $stamp ]]; then
    echo "installing versitygw $VERSITYGW_VERSION into .bin/ (about 1.5 minutes the first time)"
    GOBIN=$S3EC_BIN go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
    touch "$stamp"
  fi
}

install_minio() {
  local stamp=$S3EC_BIN/.minio-$MINIO_VERSION
  if [[ ! -x $S3EC_BIN/minio || ! -f $stamp ]]; then
    echo "installing MinIO $MINIO_VERSION into .bin/ (about 7 minutes the first time)"
    GOBIN=$S3EC_BIN go install "github.com/minio/minio@$MINIO_VERSION"
    touch "$stamp"
  fi
}

install_local_kms() {
  local stamp=$S3EC_BIN/.local-kms-$LOCAL_KMS_VERSION
  if [[ ! -x $S3EC_BIN/local-kms || ! -f $stamp ]]; then
    echo "installing local-kms $LOCAL_KMS_VERSION into .bin/ (about 30 seconds the first time)"
    GOBIN=$S3EC_BIN go install "github.com/nsmithuk/local-kms@$LOCAL_KMS_VERSION"
    touch "$stamp"
  fi
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

wait_http() { # url name
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not become ready at $1" >&2
  return 1
}

start_versitygw() {
  install_versitygw
  local port dir
  port=$(free_port)
  dir=$S3EC_WORK/versitygw-$port
  rm -rf "$dir" && mkdir -p "$dir"
  ROOT_ACCESS_KEY_ID=$S3_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
    "$S3EC_BIN/versitygw" --port "127.0.0.1:$port" --quiet --health /healthz posix "$dir" \
    >"$S3EC_WORK/versitygw-$port.log" 2>&1 &
  SERVER_PIDS+=($!)
  VERSITYGW_ENDPOINT=http://127.0.0.1:$port
  wait_http "$VERSITYGW_ENDPOINT/healthz" versitygw
  export VERSITYGW_ENDPOINT
}

start_minio() {
  install_minio
  local port cport dir
  port=$(free_port)
  cport=$(free_port)
  dir=$S3EC_WORK/minio-$port
  rm -rf "$dir" && mkdir -p "$dir"
  MINIO_ROOT_USER=$S3_ACCESS_KEY MINIO_ROOT_PASSWORD=$S3_SECRET_KEY MINIO_UPDATE=off MINIO_BROWSER=off \
    "$S3EC_BIN/minio" server "$dir" --address "127.0.0.1:$port" --console-address "127.0.0.1:$cport" \
    >"$S3EC_WORK/minio-$port.log" 2>&1 &
  SERVER_PIDS+=($!)
  MINIO_ENDPOINT=http://127.0.0.1:$port
  wait_http "$MINIO_ENDPOINT/minio/health/live" minio
  export MINIO_ENDPOINT
}

# wait_tcp waits for something to listen on 127.0.0.1:port (local-kms has no
# health endpoint).
wait_tcp() { # port name
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not start listening on 127.0.0.1:$1" >&2
  return 1
}

start_local_kms() {
  install_local_kms
  local port dir
  port=$(free_port)
  dir=$S3EC_WORK/local-kms-$port
  rm -rf "$dir" && mkdir -p "$dir/data"
  # No seed file (a missing one is skipped): the tests create their keys
  # with CreateKey.
  PORT=$port KMS_REGION=$LOCAL_KMS_REGION KMS_ACCOUNT_ID=$LOCAL_KMS_ACCOUNT \
    KMS_DATA_PATH=$dir/data KMS_SEED_PATH=$dir/no-seed.yaml \
    "$S3EC_BIN/local-kms" >"$S3EC_WORK/local-kms-$port.log" 2>&1 &
  SERVER_PIDS+=($!)
  wait_tcp "$port" local-kms
  LOCAL_KMS_ENDPOINT=http://127.0.0.1:$port
  export LOCAL_KMS_ENDPOINT
}

stop_servers() {
  for pid in "${SERVER_PIDS[@]:-}"; do
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${SERVER_PIDS[@]:-}"; do
    [[ -n $pid ]] && wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}
