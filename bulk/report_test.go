package bulk

import (
	"bytes"
	"strings"
	"testing"
)

func TestReportRoundTrip(t *testing.T) {
	results := []Result{
		{Task: Task{Bucket: "b", Key: "plain.txt"}, Outcome: Done, Status: Succeeded, Reason: "rewrapped", HTTPStatus: 200, Message: "rewrapped: V3, metadata"},
		{Task: Task{Bucket: "b", Key: "dir/a b+c,\"d\"€%.txt", VersionId: "v1"}, Outcome: Failed, Status: PermanentFailure, ErrorCode: "AuthenticationFailed", Message: `encryptionclient: GetObject s3://b/k: "quoted", comma`},
		{Task: Task{Bucket: "b", Key: "x"}, Outcome: Failed, Status: TemporaryFailure, ErrorCode: "ThrottlingException", HTTPStatus: 400, Message: "line\nbreak"},
	}
	var buf bytes.Buffer
	r := NewReport(&buf)
	for _, res := range results {
		if err := r.Write(res); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(results) {
		t.Fatalf("%d lines for %d results:\n%s", len(lines), len(results), buf.String())
	}
	if lines[0] != "b,plain.txt,,Succeeded,,200,\"rewrapped: V3, metadata\"" {
		t.Errorf("line 0 = %s", lines[0])
	}
	if !strings.HasPrefix(lines[1], "b,dir%2Fa%20b%2Bc%2C%22d%22%E2%82%AC%25.txt,v1,PermanentFailure,AuthenticationFailed,,") {
		t.Errorf("line 1 = %s", lines[1])
	}
	for i, line := range lines {
		got, err := ParseReportLine(line)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		want := results[i]
		want.Message = message(want.Message)
		if got.Task != want.Task || got.Status != want.Status || got.ErrorCode != want.ErrorCode || got.HTTPStatus != want.HTTPStatus || got.Message != want.Message || got.Outcome != want.Outcome {
			t.Errorf("line %d parsed as %+v, want %+v", i, got, want)
		}
	}
	// A report line is a manifest line again (bucket, key, version id).
	m := ReadCSV(strings.NewReader(strings.Join(func() []string {
		var out []string
		for _, l := range lines {
			f := strings.SplitN(l, ",", 4)
			out = append(out, strings.Join(f[:3], ","))
		}
		return out
	}(), "\n")))
	for i, task := range all(t, m) {
		if task.Key != results[i].Key || task.VersionId != results[i].VersionId {
			t.Errorf("manifest from report line %d: %+v", i, task)
		}
	}
	// Lines as S3 Batch Operations writes them.
	for line, want := range map[string]Result{
		`bkt,photo%201.jpg,,failed,200,PermanentFailure,"Lambda returned function error: {""errorMessage"":""timed out""}"`: {Task: Task{Bucket: "bkt", Key: "photo 1.jpg"}, Outcome: Failed, Status: PermanentFailure, HTTPStatus: 200, Message: `Lambda returned function error: {"errorMessage":"timed out"}`},
		`bkt,k,v1,failed,500,TemporaryFailure,slow down`:                                                                    {Task: Task{Bucket: "bkt", Key: "k", VersionId: "v1"}, Outcome: Failed, Status: TemporaryFailure, HTTPStatus: 500, Message: "slow down"},
		`bkt,k,,succeeded,200,,Successful`:                                                                                  {Task: Task{Bucket: "bkt", Key: "k"}, Outcome: Done, Status: Succeeded, HTTPStatus: 200, Message: "Successful"},
	} {
		got, err := ParseReportLine(line)
		if err != nil || got.Task != want.Task || got.Outcome != want.Outcome || got.Status != want.Status || got.HTTPStatus != want.HTTPStatus || got.Message != want.Message {
			t.Errorf("ParseReportLine(%s) = %+v, %v; want %+v", line, got, err, want)
		}
	}
	for _, bad := range []string{"b,k,,Succeeded", "b,k,,Maybe,,,", "b,%zz,,Succeeded,,,", "b,k,,Succeeded,,x,"} {
		if _, err := ParseReportLine(bad); err == nil {
			t.Errorf("ParseReportLine(%q) accepted", bad)
		}
	}
}
