package batchops

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type statement struct {
	role, sid string
	actions   []string
	resources []any
	condition any
}

func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return doc
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// statements returns every IAM statement of every role of the template.
func statements(t *testing.T, doc map[string]any) []statement {
	t.Helper()
	var out []statement
	for name, r := range doc["Resources"].(map[string]any) {
		if get(r, "Type") != "AWS::IAM::Role" {
			if typ := get(r, "Type"); typ == "AWS::IAM::Policy" || typ == "AWS::IAM::ManagedPolicy" {
				t.Errorf("%s: a separate %s; keep every grant in the roles' inline policies, where this test checks it", name, typ)
			}
			continue
		}
		if get(r, "Properties", "ManagedPolicyArns") != nil {
			t.Errorf("%s: managed policies grant more than the template shows", name)
		}
		for _, p := range asList(get(r, "Properties", "Policies")) {
			for _, s := range asList(get(p, "PolicyDocument", "Statement")) {
				st := statement{role: name, sid: get(s, "Sid").(string), condition: get(s, "Condition")}
				if get(s, "Effect") != "Allow" || get(s, "NotAction") != nil || get(s, "NotResource") != nil {
					t.Errorf("%s %s: only Allow statements with Action and Resource", name, st.sid)
				}
				for _, a := range asList(get(s, "Action")) {
					st.actions = append(st.actions, a.(string))
				}
				st.resources = asList(get(s, "Resource"))
				out = append(out, st)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no IAM statements in the template")
	}
	return out
}

var (
	refSources = map[string]any{"Ref": "SourceKmsKeyArns"}
	refTarget  = map[string]any{"Ref": "TargetKmsKeyArn"}
)

// The execution role and the job's role are least privilege: KMS actions
// only on the key parameters (never "*", never kms:ReEncrypt*), the
// unwrap on the sources, the wrap on the target; S3 actions only on the
// bucket parameters, each role on its own buckets; no wildcard action or
// resource anywhere.
func TestTemplateLeastPrivilege(t *testing.T) {
	doc := loadTemplate(t)
	s3Resource := regexp.MustCompile(`^arn:\$\{AWS::Partition\}:s3:::\$\{(Bucket|ManifestBucket|ReportBucket)\}(/\*|/\*\$\{InstructionFileSuffix\}|/\$\{ReportPrefix\}\*)?$`)
	grants := map[string]map[string][]string{} // role -> action -> resources
	for _, st := range statements(t, doc) {
		for _, a := range st.actions {
			if strings.Contains(a, "*") {
				t.Errorf("%s %s: wildcard action %q", st.role, st.sid, a)
			}
			if strings.HasPrefix(strings.ToLower(a), "kms:reencrypt") && a != "kms:ReEncryptFrom" && a != "kms:ReEncryptTo" {
				t.Errorf("%s %s: %q (only kms:ReEncryptFrom and kms:ReEncryptTo, on named keys)", st.role, st.sid, a)
			}
			service, _, _ := strings.Cut(a, ":")
			for _, r := range st.resources {
				if r == "*" {
					t.Errorf("%s %s: %s on \"*\"", st.role, st.sid, a)
					continue
				}
				desc := ""
				switch service {
				case "kms":
					switch {
					case reflect.DeepEqual(r, refSources):
						desc = "sources"
					case reflect.DeepEqual(r, refTarget):
						desc = "target"
					default:
						t.Errorf("%s %s: %s on %v, not one of the key parameters", st.role, st.sid, a, r)
					}
					if desc == "target" && a == "kms:ReEncryptFrom" && !reflect.DeepEqual(st.condition, map[string]any{"Bool": map[string]any{"kms:ReEncryptOnSameKey": "true"}}) {
						t.Errorf("%s %s: kms:ReEncryptFrom on the target without kms:ReEncryptOnSameKey", st.role, st.sid)
					}
				case "s3":
					sub, _ := get(r, "Fn::Sub").(string)
					m := s3Resource.FindStringSubmatch(sub)
					if m == nil {
						t.Errorf("%s %s: %s on %v, not a bucket parameter", st.role, st.sid, a, r)
						continue
					}
					desc = m[1] + m[2]
				case "logs":
					sub, _ := get(r, "Fn::Sub").(string)
					if !strings.HasSuffix(sub, ":log-group:/aws/lambda/${FunctionName}:*") {
						t.Errorf("%s %s: %s on %v, not the function's log group", st.role, st.sid, a, r)
					}
					desc = "log group"
				case "lambda":
					if !reflect.DeepEqual(r, map[string]any{"Fn::GetAtt": []any{"Function", "Arn"}}) {
						t.Errorf("%s %s: %s on %v, not the function", st.role, st.sid, a, r)
					}
					desc = "function"
				default:
					t.Errorf("%s %s: unexpected service of %s", st.role, st.sid, a)
				}
				if grants[st.role] == nil {
					grants[st.role] = map[string][]string{}
				}
				grants[st.role][a] = append(grants[st.role][a], desc)
			}
		}
	}

	// What each role may do, exactly.
	want := map[string]map[string][]string{
		"FunctionRole": {
			"logs:CreateLogStream": {"log group"}, "logs:PutLogEvents": {"log group"},
			"s3:GetObject": {"Bucket/*"}, "s3:GetObjectVersion": {"Bucket/*"}, "s3:GetObjectTagging": {"Bucket/*"},
			"s3:GetObjectVersionTagging": {"Bucket/*"}, "s3:PutObject": {"Bucket/*"}, "s3:PutObjectTagging": {"Bucket/*"},
			"s3:AbortMultipartUpload": {"Bucket/*"}, "s3:ListMultipartUploadParts": {"Bucket/*"},
			"s3:DeleteObject": {"Bucket/*${InstructionFileSuffix}"}, "s3:ListBucket": {"Bucket"},
			"kms:Decrypt": {"sources"}, "kms:ReEncryptFrom": {"sources", "target"},
			"kms:GenerateDataKey": {"target"}, "kms:Encrypt": {"target"}, "kms:ReEncryptTo": {"target"},
		},
		"BatchJobRole": {
			"s3:GetObject": {"ManifestBucket/*"}, "s3:GetObjectVersion": {"ManifestBucket/*"},
			"s3:GetBucketLocation": {"ManifestBucket", "ReportBucket"},
			"s3:PutObject":         {"ReportBucket/${ReportPrefix}*"}, "lambda:InvokeFunction": {"function"},
		},
	}
	for role := range grants {
		for a := range grants[role] {
			slices.Sort(grants[role][a])
		}
	}
	if !reflect.DeepEqual(grants, want) {
		t.Errorf("grants:\n%v\nwant:\n%v", grants, want)
	}
}

// The function is the provided.al2023 arm64 bootstrap, and its
// environment gives the deployment's limits from the parameters, with
// variable names the handler reads.
func TestTemplateFunction(t *testing.T) {
	doc := loadTemplate(t)
	fn := get(doc, "Resources", "Function", "Properties")
	if get(doc, "Resources", "Function", "Type") != "AWS::Serverless::Function" || get(fn, "Runtime") != "provided.al2023" ||
		get(fn, "Handler") != "bootstrap" || !reflect.DeepEqual(get(fn, "Architectures"), []any{"arm64"}) {
		t.Errorf("function: %v", fn)
	}
	for _, p := range []string{"Bucket", "SourceKmsKeyArns", "TargetKmsKeyArn", "ReportBucket", "ManifestBucket"} {
		if get(doc, "Parameters", p) == nil {
			t.Errorf("parameter %s missing", p)
		}
	}
	if get(doc, "Parameters", "SourceKmsKeyArns", "Type") != "CommaDelimitedList" {
		t.Error("SourceKmsKeyArns is not a CommaDelimitedList")
	}
	vars := get(fn, "Environment", "Variables").(map[string]any)
	known := []string{EnvOperation, EnvAllowedOperations, EnvKMSKeyIDs, EnvTargetKMSKeyID, EnvAllowedTargetKMSKeyIDs,
		EnvEncryptionContext, EnvCommitmentPolicy, EnvEnableLegacy, EnvDryRun, EnvForce, EnvKMSRequestsPerSecond,
		EnvKMSMaxAttempts, EnvInstructionFileSuffix, EnvBuckets, EnvDeadlineMargin, EnvS3UsePathStyle}
	for name := range vars {
		if !slices.Contains(known, name) {
			t.Errorf("environment variable %s is not one the handler reads", name)
		}
	}
	if !reflect.DeepEqual(vars[EnvTargetKMSKeyID], refTarget) || !reflect.DeepEqual(vars[EnvKMSKeyIDs], map[string]any{"Fn::Join": []any{",", refSources}}) ||
		!reflect.DeepEqual(vars[EnvBuckets], map[string]any{"Ref": "Bucket"}) {
		t.Errorf("the keys and the bucket of the environment: %v", vars)
	}
	if _, ok := vars[EnvAllowedTargetKMSKeyIDs]; ok {
		t.Error("the template allows targets beyond TargetKmsKeyArn, which the role cannot use")
	}
	// The default allowed operations are the handler's.
	if got := get(doc, "Parameters", "AllowedOperations", "Default"); got != strings.Join(DefaultAllowedOperations, ",") {
		t.Errorf("AllowedOperations default %v, handler default %v", got, DefaultAllowedOperations)
	}
}
