package bulk_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3ec/s3ec-go/bulk"
	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/materials"
)

func ExampleReadCSV() {
	m := bulk.ReadCSV(strings.NewReader("my-bucket,photos%2F2024%2Fa+b.jpg\nmy-bucket,doc.pdf,3HL4kqtJlcpXroDTDmjVBH40Nrjfkd\n"))
	defer m.Close()
	for {
		t, err := m.Next(context.Background())
		if err != nil {
			break // io.EOF, or a *bulk.ManifestError naming the line
		}
		fmt.Printf("%d s3://%s/%s version %q\n", t.Seq, t.Bucket, t.Key, t.VersionId)
	}
	// Output:
	// 0 s3://my-bucket/photos/2024/a b.jpg version ""
	// 1 s3://my-bucket/doc.pdf version "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"
}

// countKeys is an Operation of this example: it only looks at the key.
type countKeys struct{}

func (countKeys) Name() string { return "count" }

func (countKeys) Do(_ context.Context, t bulk.Task) bulk.Result {
	if strings.HasSuffix(t.Key, "/") {
		return bulk.Result{Task: t, Outcome: bulk.Skipped, Status: bulk.Succeeded, Reason: "folder", HTTPStatus: 200, Message: "skipped: folder"}
	}
	return bulk.Result{Task: t, Outcome: bulk.Done, Status: bulk.Succeeded, Reason: "counted", HTTPStatus: 200, Message: "counted"}
}

func ExampleRun() {
	manifest := bulk.ReadCSV(strings.NewReader("b,a.txt\nb,dir%2F\nb,dir%2Fc%20d.txt\n"))
	report := bulk.NewReport(os.Stdout)
	sum, err := bulk.Run(context.Background(), manifest, countKeys{}, bulk.RunOptions{Concurrency: 1, Report: report})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output:
	// b,a.txt,,Succeeded,,200,counted
	// b,dir%2F,,Succeeded,,200,skipped: folder
	// b,dir%2Fc%20d.txt,,Succeeded,,200,counted
	// 3 tasks: 2 done, 1 skipped, 0 failed (0 temporary, 0 permanent); counted=2 folder=1; watermark 2
}

func ExampleShard() {
	// Worker 2 of 8 (for example a Kubernetes Indexed Job's
	// JOB_COMPLETION_INDEX) reads the whole manifest and keeps its share.
	const in = "b,k0\nb,k1\nb,k2\nb,k3\nb,k4\nb,k5\nb,k6\nb,k7\nb,k8\nb,k9\n"
	total := 0
	for k := range 8 {
		m := bulk.Shard(bulk.ReadCSV(strings.NewReader(in)), k, 8)
		for {
			if _, err := m.Next(context.Background()); err != nil {
				break
			}
			total++
		}
	}
	fmt.Println(total, "tasks in all 8 shards")
	// Output: 10 tasks in all 8 shards
}

// A rotation job: every object an S3 Inventory lists gets its data key
// re-wrapped under a new KMS key, at most 100 KMS requests per second,
// with a completion report.
func ExampleRewrap() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	s3Client := s3.NewFromConfig(cfg)
	kmsClient := kms.NewFromConfig(cfg, bulk.RateLimit(100), bulk.Retry(10))
	oldKey, err := materials.NewKMSKeyring(kmsClient, "alias/old")
	if err != nil {
		log.Fatal(err)
	}
	newKey, err := materials.NewKMSKeyring(kmsClient, "alias/new")
	if err != nil {
		log.Fatal(err)
	}
	client, err := encryptionclient.New(s3Client, oldKey)
	if err != nil {
		log.Fatal(err)
	}
	m, err := bulk.Open(ctx, s3Client, "s3://inventory-bucket/my-bucket/daily/2026-01-01T01-00Z/manifest.json")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	f, err := os.Create("report.csv")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	sum, err := bulk.Run(ctx, m, bulk.Rewrap(client, bulk.RewrapParams{Keyring: newKey}), bulk.RunOptions{Concurrency: 32, Report: bulk.NewReport(f)})
	fmt.Println(sum) // on an error, resume with bulk.Skip(manifest, sum.Watermark)
	if err != nil {
		log.Fatal(err)
	}
}

// A migration to V3: ReEncrypt generates a data key per object; a caching
// keyring reuses each for a while, removing most GenerateDataKey requests.
func ExampleReEncrypt() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	kmsClient := kms.NewFromConfig(cfg, bulk.RateLimit(100), bulk.Retry(10))
	kr, err := materials.NewKMSKeyring(kmsClient, "alias/data")
	if err != nil {
		log.Fatal(err)
	}
	cached, err := materials.NewCachingKeyring(kr)
	if err != nil {
		log.Fatal(err)
	}
	defer cached.Close() // zeroes the cached keys
	client, err := encryptionclient.New(s3.NewFromConfig(cfg), kr)
	if err != nil {
		log.Fatal(err)
	}
	m, err := bulk.Open(ctx, s3.NewFromConfig(cfg), "manifest.csv")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	sum, err := bulk.Run(ctx, m, bulk.ReEncrypt(client, bulk.ReEncryptParams{Keyring: cached}), bulk.RunOptions{})
	fmt.Println(sum, err)
}

// InspectWith with the bucket's instruction-file suffix tells instruction
// files (Skipped, Reason "instruction-file") from unencrypted objects.
func ExampleInspectWith() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	op := bulk.InspectWith(s3.NewFromConfig(cfg), bulk.InspectParams{InstructionFileSuffix: ".instruction"})
	sum, err := bulk.Run(context.Background(), bulk.List(s3.NewFromConfig(cfg), "my-bucket", "photos/"), op, bulk.RunOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum.Reasons["inspected"], "encrypted,", sum.Reasons["not-encrypted"], "not,", sum.Reasons["instruction-file"], "instruction files")
}
