// Command s3ec-batchops is the S3 Batch Operations Lambda of s3ec-go: the
// function a LambdaInvoke job calls for each object, to rewrap, re-encrypt,
// adopt, verify or inspect it with the client-side encryption of s3ec-go.
// It is built for the provided.al2023 runtime:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./cmd/s3ec-batchops
//
// Its configuration is its environment (S3EC_* and the AWS SDK's
// variables) and each job's user arguments; see package batchops.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/s3ec/s3ec-go/batchops"
)

func main() {
	cfg, err := batchops.ConfigFromEnv(context.Background())
	if err != nil {
		// Every task fails with the reason (PermanentFailure): a
		// misconfigured deployment fails the job instead of being retried.
		log.Printf("s3ec-batchops: %v", err)
	}
	lambda.Start(batchops.NewHandler(cfg))
}
