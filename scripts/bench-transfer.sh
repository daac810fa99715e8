#!/usr/bin/env bash
# Benchmarks the encryption client's PutObject, Upload and Download against
# the plain aws-sdk-go-v2 (s3.PutObject, feature/s3/manager and
# feature/s3/transfermanager) on a fresh local versitygw (installed into
# .bin/ on first use), each transfer in its own process for its peak RSS
# and CPU time. With --https, versitygw serves TLS with a self-signed
# certificate made for the run (in .work/, removed at the end), which the
# client trusts: the SDK then sends unsigned payloads with trailing
# checksums, as against AWS. --both runs HTTP, then HTTPS. Other arguments
# go to internal/tools/transferbench (built here with `go -C
# internal/tools`), e.g.
#
#   scripts/bench-transfer.sh                         # 256 MiB, 8 MiB parts, 1–16 workers, 4 pairs
#   scripts/bench-transfer.sh --both -size 256MiB -pairs 4
#   scripts/bench-transfer.sh -ops put -pairs 8
#   scripts/bench-transfer.sh --both -json /tmp/transfer-{scheme}.json
#   scripts/bench-transfer.sh -concurrency 1,4 -baselines tm
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/servers.sh

modes=(http)
args=()
for a in "$@"; do
  case $a in
    --https) modes=(https) ;;
    --both) modes=(http https) ;;
    *) args+=("$a") ;;
  esac
done

BIN=$S3EC_WORK/transferbench
TLSDIR=$S3EC_WORK/transferbench-tls
GW_DIR=
cleanup() {
  stop_servers
  # The server's data directory holds the objects of this run only.
  [[ -n $GW_DIR ]] && rm -rf "$GW_DIR"
  rm -rf "$BIN" "$TLSDIR"
  return 0
}
trap cleanup EXIT

# start_gateway MODE: a versitygw on a free port, over TLS for https.
start_gateway() {
  install_versitygw
  local port tlsargs=() curlargs=()
  port=$(free_port)
  GW_DIR=$S3EC_WORK/versitygw-$port
  rm -rf "$GW_DIR" && mkdir -p "$GW_DIR"
  if [[ $1 == https ]]; then
    "$BIN" -gencert "$TLSDIR"
    tlsargs=(--cert "$TLSDIR/cert.pem" --key "$TLSDIR/key.pem")
    curlargs=(--cacert "$TLSDIR/cert.pem")
  fi
  ROOT_ACCESS_KEY_ID=$S3_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
    "$S3EC_BIN/versitygw" --port "127.0.0.1:$port" "${tlsargs[@]}" --quiet --health /healthz posix "$GW_DIR" \
    >"$S3EC_WORK/versitygw-$port.log" 2>&1 &
  SERVER_PIDS+=($!)
  ENDPOINT=$1://127.0.0.1:$port
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "${curlargs[@]}" "$ENDPOINT/healthz" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "versitygw did not become ready at $ENDPOINT" >&2
  return 1
}

# A static binary: no C library in the measured RSS.
CGO_ENABLED=0 go -C internal/tools build -o "$BIN" ./transferbench
for mode in "${modes[@]}"; do
  start_gateway "$mode"
  ca=()
  [[ $mode == https ]] && ca=(-ca "$TLSDIR/cert.pem")
  "$BIN" -endpoint "$ENDPOINT" -access-key "$S3_ACCESS_KEY" -secret-key "$S3_SECRET_KEY" "${ca[@]}" "${args[@]}"
  stop_servers
  rm -rf "$GW_DIR"
  GW_DIR=
done
