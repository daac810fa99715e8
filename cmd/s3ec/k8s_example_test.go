package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/s3ec/s3ec-go/bulk"
)

// k8sExample is the Kubernetes Indexed Job of the documentation.
const k8sExample = "../../docs/examples/k8s-reencrypt-job.yaml"

// TestK8sJobExample checks the arithmetic the example relies on: an
// Indexed Job of `completions` pods, pod K running --shard K/N with N =
// completions, each with a report of its own; its command line parses as
// s3ec's; and the N shards of a manifest hold every task exactly once.
func TestK8sJobExample(t *testing.T) {
	b, err := os.ReadFile(k8sExample)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^  ` + name + `: *(\S+)`).FindStringSubmatch(doc)
		if m == nil {
			t.Fatalf("the example has no spec.%s", name)
		}
		return m[1]
	}
	if mode := field("completionMode"); mode != "Indexed" {
		t.Fatalf("completionMode %s, want Indexed (JOB_COMPLETION_INDEX is set in Indexed Jobs only)", mode)
	}
	completions, err := strconv.Atoi(field("completions"))
	if err != nil || completions < 1 {
		t.Fatalf("completions %q", field("completions"))
	}
	if p, err := strconv.Atoi(field("parallelism")); err != nil || p > completions {
		t.Errorf("parallelism %q, more than the %d completions", field("parallelism"), completions)
	}

	// The container's args: the list items under "args:".
	var args []string
	in := false
	for _, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "args:":
			in = true
		case in && strings.HasPrefix(trimmed, "- "):
			args = append(args, strings.Trim(strings.TrimPrefix(trimmed, "- "), `"'`))
		case in && trimmed != "" && !strings.HasPrefix(trimmed, "#"):
			in = false
		}
	}
	if len(args) == 0 || args[0] != "reencrypt" {
		t.Fatalf("args %q: want s3ec reencrypt ...", args)
	}
	var shardArg, reportArg string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--shard="); ok {
			shardArg = v
		}
		if v, ok := strings.CutPrefix(a, "--report="); ok {
			reportArg = v
		}
	}
	want := fmt.Sprintf("$(JOB_COMPLETION_INDEX)/%d", completions)
	if shardArg != want {
		t.Fatalf("--shard=%s, want --shard=%s: N must equal completions", shardArg, want)
	}
	if !strings.Contains(reportArg, "$(JOB_COMPLETION_INDEX)") {
		t.Errorf("--report=%s: each shard needs a report (and a checkpoint) of its own", reportArg)
	}

	// Each pod's command line, with the index Kubernetes gives it, parses
	// and names a valid shard; the reports differ.
	reports := map[string]bool{}
	for k := range completions {
		podArgs := make([]string, len(args)-1)
		for i, a := range args[1:] {
			podArgs[i] = strings.ReplaceAll(a, "$(JOB_COMPLETION_INDEX)", strconv.Itoa(k))
		}
		fs := newFlagSet(reencryptCommand)
		reencryptCommand.define(fs)
		pos, err := fs.parse(podArgs)
		if err != nil || len(pos) != 0 {
			t.Fatalf("pod %d: %q: %v, positional %q", k, podArgs, err, pos)
		}
		sk, sn, err := parseShard(fs.fs.Lookup("shard").Value.String())
		if err != nil || sk != k || sn != completions {
			t.Fatalf("pod %d: shard %d/%d, %v", k, sk, sn, err)
		}
		reports[fs.fs.Lookup("report").Value.String()] = true
		if fs.fs.Lookup("resume").Value.String() != "true" {
			t.Errorf("pod %d: no --resume: a retried pod would start over", k)
		}
	}
	if len(reports) != completions {
		t.Errorf("%d reports for %d shards", len(reports), completions)
	}

	// The shards of one manifest hold every task exactly once.
	var csv strings.Builder
	const tasks = 2000
	for i := range tasks {
		fmt.Fprintf(&csv, "bucket,dir%%2Fobject-%d,\n", i)
	}
	seen := make([]int, tasks)
	for k := range completions {
		m := bulk.Shard(bulk.ReadCSV(strings.NewReader(csv.String())), k, completions)
		n := 0
		for {
			task, err := m.Next(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[task.Seq]++
			n++
		}
		if n == 0 {
			t.Errorf("shard %d/%d is empty", k, completions)
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("task %d is in %d shards", i, n)
		}
	}
}
