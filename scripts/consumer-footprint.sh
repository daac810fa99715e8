#!/usr/bin/env bash
# What a library user's module graph holds: builds a small consumer (a main
# package that imports encryptionclient and materials and uses them with the
# AWS SDK's config, S3 and KMS clients) in a temporary directory, points it at
# this checkout with a replace directive, runs `go mod tidy`, and prints the
# consumer's go.sum line count, the modules in it (which of them provide a
# linked package), and the size of the consumer's module graph.
#
#   scripts/consumer-footprint.sh [limit]     # default limit 45
#
# Exits 1 when the count is above the limit. The count includes the 2 go.sum
# lines (h1 hash and go.mod hash) that a real consumer also holds for
# github.com/s3ec/s3ec-go itself; with a replace to a local directory `go mod
# tidy` writes no lines for it, so they are added here by hand. Everything
# else is exactly what a consumer gets: with module graph pruning, `go mod
# tidy` reads our go.mod (its requirements become part of the consumer's
# graph) and the go.mod files of the modules that provide linked packages.
#
# Needs the Go module proxy (or a warm module cache). Workspace mode is off
# for the consumer (GOWORK=off): consumers never see our go.work.
set -euo pipefail

limit=${1:-${S3EC_FOOTPRINT_LIMIT:-45}}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/consumer"
cd "$tmp/consumer"
cat > main.go <<'EOF'
// Command consumer uses s3ec-go the way a library user does: the SDK's
// default configuration, an S3 client, a KMS keyring and the encryption
// client.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

func main() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kr, err := materials.NewKMSKeyring(kms.NewFromConfig(cfg), "alias/example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := encryptionclient.New(s3.NewFromConfig(cfg), kr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("key"), Body: strings.NewReader("hello"),
	})
	fmt.Println(err)
}
EOF

export GOWORK=off GOFLAGS=-mod=mod
go mod init example.com/consumer >/dev/null 2>&1
go mod edit -require=github.com/s3ec/s3ec-go@v0.0.0-00010101000000-000000000000 \
	-replace=github.com/s3ec/s3ec-go="$root"
go mod tidy
go build -o /dev/null .
# S3EC_FOOTPRINT_KEEP=dir keeps the consumer's go.mod and go.sum there.
[[ -n ${S3EC_FOOTPRINT_KEEP:-} ]] && cp go.mod go.sum "$S3EC_FOOTPRINT_KEEP"/

own=2 # github.com/s3ec/s3ec-go h1: and /go.mod lines, absent with a local replace
lines=$(( $(wc -l < go.sum) + own ))
modules=$(awk '{print $1}' go.sum | sort -u)
nmod=$(( $(printf '%s\n' "$modules" | grep -c .) + 1 ))
linked=$(go list -deps -f '{{with .Module}}{{.Path}}{{end}}' . | sort -u | grep -v '^example.com/consumer$')
graph=$(go list -m -f '{{if not .Main}}{{.Path}} {{.Version}}{{end}}' all | grep .)

echo "consumer of encryptionclient + materials (with config, s3, kms):"
echo "  go.sum lines: $lines (limit $limit; includes $own for github.com/s3ec/s3ec-go)"
echo "  modules in go.sum: $nmod"
echo "modules (L = provides a linked package, - = not linked: kept for go test of our packages):"
{ printf '%s\n' "$modules"; echo github.com/s3ec/s3ec-go; } | sort -u | while read -r m; do
	if grep -qxF "$m" <<<"$linked"; then echo "  L $m"; else echo "  - $m"; fi
done
echo "module graph (go list -m all, without the consumer): $(grep -c . <<<"$graph") modules"
grep -v '^github.com/aws/' <<<"$graph" | sed 's/^/  /'
echo "  (and $(grep -c '^github.com/aws/' <<<"$graph") github.com/aws/... modules)"
if (( lines > limit )); then
	echo "FAIL: $lines go.sum lines > $limit" >&2
	exit 1
fi
echo "ok: $lines <= $limit"
