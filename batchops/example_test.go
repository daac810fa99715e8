package batchops_test

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/s3ec/s3ec-go/batchops"
)

// The deployable Lambda (cmd/s3ec-batchops) in full: the configuration is
// the function's environment, the handler takes both event schemas.
func ExampleNewHandler() {
	cfg, err := batchops.ConfigFromEnv(context.Background())
	if err != nil {
		log.Printf("s3ec-batchops: %v", err) // every task fails with it
	}
	lambda.Start(batchops.NewHandler(cfg))
}
