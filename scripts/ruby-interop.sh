#!/usr/bin/env bash
# Runs the Ruby interoperability tests (interop/ruby_test.go): objects
# round-tripped between s3ec-go and AWS's Ruby S3 Encryption Clients
# (aws-sdk-s3's EncryptionV2::Client and the legacy Encryption::Client)
# through the in-process S3 server and the KMS test server.
#
# Installs Debian's ruby, ruby-aws-sdk-s3 and ruby-aws-sdk-kms with apt-get
# when they are missing (needs root), then runs the tests with
# S3EC_REQUIRE_RUBY=1, so that a Ruby that still cannot be found fails the
# run instead of skipping. Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! ruby -e 'require "aws-sdk-s3"; require "aws-sdk-kms"' 2>/dev/null; then
  echo "installing ruby ruby-aws-sdk-s3 ruby-aws-sdk-kms (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq ruby ruby-aws-sdk-s3 ruby-aws-sdk-kms >/dev/null
fi
ruby -e 'require "aws-sdk-s3"; require "aws-sdk-kms"; puts "ruby #{RUBY_VERSION}, aws-sdk-s3 #{Aws::S3::GEM_VERSION}, aws-sdk-kms #{Aws::KMS::GEM_VERSION}"'

S3EC_REQUIRE_RUBY=1 scripts/interop.sh -run 'Ruby' "$@"
