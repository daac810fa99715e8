// Package interop holds the interoperability tests of s3ec-go against AWS's
// own Go S3 Encryption Clients: amazon-s3-encryption-client-go v3 and v4 and
// the aws-sdk-go (v1) s3crypto package, and against AWS's Ruby clients
// (aws-sdk-s3's EncryptionV2::Client and Encryption::Client, driven through
// ruby/s3ec_jobs.rb; see ruby_test.go). Objects are round-tripped in both
// directions through an in-process S3 server and the project's KMS test
// server; see interop_test.go for the matrix.
//
// It is a separate module so that the library itself does not depend on
// those clients. Run it with scripts/interop.sh; scripts/ruby-interop.sh
// installs Ruby and runs the Ruby tests, which otherwise skip when Ruby is
// missing.
package interop
