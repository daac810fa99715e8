// Package exampleenv gives the examples an S3 bucket and, when they need
// one, a KMS key: the in-process test servers by default, so that every
// example runs with zero setup, or AWS when the environment names a bucket
// (S3EC_EXAMPLE_BUCKET) or a KMS key (S3EC_EXAMPLE_KMS_KEY_ID). AWS
// credentials and region then come from the default configuration
// (environment, ~/.aws, instance role), as config.LoadDefaultConfig finds
// them; AWS_ENDPOINT_URL_S3 points S3 at an S3-compatible server.
package exampleenv

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/s3ec/s3ec-go/internal/testkit/kmstest"
	"github.com/s3ec/s3ec-go/internal/testkit/s3test"
)

// The environment variables that switch an example to AWS.
const (
	EnvBucket   = "S3EC_EXAMPLE_BUCKET"     // an existing bucket you may write to
	EnvKMSKeyID = "S3EC_EXAMPLE_KMS_KEY_ID" // a key id, key ARN, alias/NAME or alias ARN
)

// Env is where an example stores its objects and, after UseKMS, which KMS
// key it uses.
type Env struct {
	// S3 is a plain SDK client; the examples wrap it in the encryption
	// client and also use it directly to show what S3 stored.
	S3     *s3.Client
	Bucket string
	// Prefix is prepended to every object key (see Key): empty for the
	// in-process server, a unique folder in a real bucket.
	Prefix string
	// Real reports that S3 is AWS, not the in-process server.
	Real bool

	// KMS, KMSKeyID and KMSKeyARN are set by UseKMS. KMSKeyID is the id
	// the keyring is configured with (for the test server an alias);
	// KMSKeyARN the full key ARN that KMS reports.
	KMS       *kms.Client
	KMSKeyID  string
	KMSKeyARN string
	// KMSServer is the KMS test server, nil with AWS KMS.
	KMSServer *kmstest.Server

	cfg     *aws.Config
	closers []func()
}

// Open returns the S3 side of an example named name and prints which S3 it
// is. Call Close when done: it stops the test servers, or, with a real
// bucket, deletes every object the example wrote under Prefix.
func Open(ctx context.Context, w io.Writer, name string) (*Env, error) {
	e := &Env{}
	if bucket := os.Getenv(EnvBucket); bucket != "" {
		cfg, err := e.awsConfig(ctx)
		if err != nil {
			return nil, err
		}
		endpoint := cmp.Or(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"))
		e.S3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
			// S3-compatible servers (MinIO, versitygw), named by the SDK's
			// AWS_ENDPOINT_URL_S3, usually need path-style addressing.
			o.UsePathStyle = endpoint != ""
		})
		e.Bucket, e.Real = bucket, true
		e.Prefix = fmt.Sprintf("s3ec-examples/%s/%d/", name, time.Now().UnixNano())
		e.closers = append(e.closers, e.deletePrefix)
		fmt.Fprintf(w, "S3: %s, s3://%s/%s\n", cmp.Or(endpoint, "AWS, region "+cfg.Region), bucket, e.Prefix)
		return e, nil
	}
	srv := s3test.NewFake()
	e.closers = append(e.closers, srv.Close)
	e.S3, e.Bucket = srv.Client(), "s3ec-example"
	if _, err := e.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.Bucket)}); err != nil {
		e.Close()
		return nil, err
	}
	fmt.Fprintf(w, "S3: in-process test server, bucket %s (set %s to use AWS)\n", e.Bucket, EnvBucket)
	return e, nil
}

// UseKMS sets up the KMS side and prints which KMS it is.
func (e *Env) UseKMS(ctx context.Context, w io.Writer) error {
	if id := os.Getenv(EnvKMSKeyID); id != "" {
		cfg, err := e.awsConfig(ctx)
		if err != nil {
			return err
		}
		e.KMS, e.KMSKeyID = kms.NewFromConfig(cfg), id
	} else {
		srv := kmstest.NewServer()
		e.closers = append(e.closers, srv.Close)
		// A key with an alias, as you would address a key in AWS.
		srv.CreateAlias("alias/s3ec-example", srv.CreateKey())
		e.KMS, e.KMSKeyID, e.KMSServer = srv.Client(), "alias/s3ec-example", srv
	}
	// Resolve the id to the key's ARN: discovery keyrings and re-wraps
	// report keys by ARN.
	if strings.HasPrefix(e.KMSKeyID, "arn:") && strings.Contains(e.KMSKeyID, ":key/") {
		e.KMSKeyARN = e.KMSKeyID
	} else {
		desc, err := e.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(e.KMSKeyID)})
		if err != nil {
			return fmt.Errorf("describe KMS key %s (needs kms:DescribeKey, or give the key ARN): %w", e.KMSKeyID, err)
		}
		e.KMSKeyARN = aws.ToString(desc.KeyMetadata.Arn)
	}
	if e.KMSServer != nil {
		fmt.Fprintf(w, "KMS: in-process test server, key %s (set %s to use AWS KMS)\n", e.KMSKeyID, EnvKMSKeyID)
	} else {
		fmt.Fprintf(w, "KMS: AWS, key %s\n", e.KMSKeyARN)
	}
	return nil
}

// Key returns the object key for name.
func (e *Env) Key(name string) string { return e.Prefix + name }

// Close releases what Open and UseKMS set up, last first.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

func (e *Env) awsConfig(ctx context.Context) (aws.Config, error) {
	if e.cfg == nil {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
		}
		e.cfg = &cfg
	}
	return *e.cfg, nil
}

// deletePrefix removes everything the example wrote to a real bucket.
func (e *Env) deletePrefix() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pages := s3.NewListObjectsV2Paginator(e.S3, &s3.ListObjectsV2Input{Bucket: aws.String(e.Bucket), Prefix: aws.String(e.Prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cleanup of s3://%s/%s: %v\n", e.Bucket, e.Prefix, err)
			return
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if len(ids) > 0 {
			_, err = e.S3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(e.Bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
			if err != nil {
				fmt.Fprintf(os.Stderr, "cleanup of s3://%s/%s: %v\n", e.Bucket, e.Prefix, err)
				return
			}
		}
	}
}

// PrintMetadata prints an object's user metadata, sorted, as the
// x-amz-meta- headers S3 stores it under. Long values are shortened.
func PrintMetadata(w io.Writer, meta map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		v := meta[k]
		if len(v) > 72 {
			v = v[:69] + "..."
		}
		fmt.Fprintf(w, "    x-amz-meta-%s: %s\n", k, v)
	}
}
