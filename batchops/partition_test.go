package batchops

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3ec/s3ec-go/bulk"
)

func TestPartitionOfRegion(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":          "aws",
		"eu-west-3":          "aws",
		"ap-southeast-7":     "aws",
		"mx-central-1":       "aws",
		"il-central-1":       "aws",
		"us-east-1-fips":     "aws",
		"cn-north-1":         "aws-cn",
		"cn-northwest-1":     "aws-cn",
		"us-gov-west-1":      "aws-us-gov",
		"fips-us-gov-west-1": "aws-us-gov",
		"us-gov-east-1-fips": "aws-us-gov",
		"us-iso-east-1":      "aws-iso",
		"us-isob-east-1":     "aws-iso-b",
		"eu-isoe-west-1":     "aws-iso-e",
		"us-isof-south-1":    "aws-iso-f",
		"eusc-de-east-1":     "aws-eusc",
		" US-EAST-1 ":        "aws",
		"":                   "",
		"local":              "",
		"garage":             "",
		"aws-global":         "",
		"xx-east-1":          "",
		"us-east":            "",
		"us-east-1-2":        "",
		"us-east-1\n":        "aws", // trimmed
		"cn-north-1.evil":    "",
	} {
		if got := partitionOf(region); got != want {
			t.Errorf("partitionOf(%q) = %q, want %q", region, got, want)
		}
	}
}

// recordOp is an operation that records the tasks it is given and
// succeeds.
type recordOp struct {
	mu    sync.Mutex
	tasks []bulk.Task
}

func (*recordOp) Name() string { return "verify" }
func (o *recordOp) Do(_ context.Context, t bulk.Task) bulk.Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tasks = append(o.tasks, t)
	return bulk.Result{Task: t, Status: bulk.Succeeded}
}

// A schema 1.0 task's bucket ARN must be of the partition of the
// function's region; in a region of no known partition every bucket ARN is
// refused, naming the ARN's partition. The operation never sees a refused
// task.
func TestV1BucketARNPartitionOfFunctionRegion(t *testing.T) {
	for _, c := range []struct {
		region, arn string
		ok          bool
	}{
		{"us-east-1", "arn:aws:s3:::b", true},
		{"cn-north-1", "arn:aws-cn:s3:::b", true},
		{"cn-north-1", "arn:aws:s3:::b", false},
		{"us-gov-west-1", "arn:aws-us-gov:s3:::b", true},
		{"us-gov-west-1", "arn:aws:s3:::b", false},
		{"us-east-1", "arn:aws-us-gov:s3:::b", false},
		{"us-isob-east-1", "arn:aws-iso-b:s3:::b", true},
		{"us-isob-east-1", "arn:aws-iso:s3:::b", false},
		{"", "arn:aws:s3:::b", false},
		{"local", "arn:aws:s3:::b", false},
	} {
		h := NewHandler(Config{AWS: aws.Config{Region: c.region}})
		op := &recordOp{}
		code, msg := h.runTask(context.Background(), op, task{id: "t", key: "k", bucketARN: c.arn, v1: true})
		if c.ok {
			if code != bulk.Succeeded || len(op.tasks) != 1 || op.tasks[0].Bucket != "b" {
				t.Errorf("region %q, %s: %s %q, tasks %v; want the task run on bucket b", c.region, c.arn, code, msg, op.tasks)
			}
			continue
		}
		partition := strings.Split(c.arn, ":")[1]
		if code != bulk.PermanentFailure || !strings.HasPrefix(msg, "InvalidTask: ") || !strings.Contains(msg, `partition "`+partition+`"`) || len(op.tasks) != 0 {
			t.Errorf("region %q, %s: %s %q, tasks %v; want PermanentFailure InvalidTask naming partition %q", c.region, c.arn, code, msg, op.tasks, partition)
		}
	}
}

// A panic while the job's clients are built (here a callback of the
// deployment's SDK configuration) fails every task permanently, without
// the panic value, instead of failing the invocation.
func TestPanicBuildingClientsFailsEveryTask(t *testing.T) {
	f := newFixture(t)
	objs := f.putUnusual(f.oldARN)[:2]
	h := f.handler(nil)
	h.cfg.AWS.Retryer = func() aws.Retryer { panic("secret-bearing panic value") }
	r := decodeResponse(t, invoke(t, context.Background(), h, eventV2(map[string]string{ArgOperation: OpVerify}, f.bucket, objs)), "2.0", "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo", len(objs))
	wantResults(t, r, "PermanentFailure", "InternalError")
	for _, res := range r.Results {
		if strings.Contains(res.ResultString, "secret-bearing") {
			t.Errorf("result string carries the panic value: %q", res.ResultString)
		}
	}
}
