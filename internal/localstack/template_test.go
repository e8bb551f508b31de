package localstack

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func parseValue(t *testing.T, src string) any {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	v, err := FromYAML(&n)
	if err != nil {
		t.Fatalf("FromYAML: %v", err)
	}
	return v
}

func TestShortTagsBecomeLongForms(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want any
	}{
		{"Ref", `!Ref Bucket`, map[string]any{"Ref": "Bucket"}},
		{"GetAtt dotted", `!GetAtt Queue.Arn`, map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}}},
		{"GetAtt dotted attribute keeps its dots", `!GetAtt Db.Endpoint.Address`, map[string]any{"Fn::GetAtt": []any{"Db", "Endpoint.Address"}}},
		{"GetAtt list", `!GetAtt [Queue, Arn]`, map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}}},
		{"Sub string", `!Sub "${AWS::StackName}-x"`, map[string]any{"Fn::Sub": "${AWS::StackName}-x"}},
		{"Sub list", "!Sub\n  - \"${A}-${B}\"\n  - B: !Ref Param", map[string]any{"Fn::Sub": []any{"${A}-${B}", map[string]any{"B": map[string]any{"Ref": "Param"}}}}},
		{"If", `!If [Cond, !Ref A, "b"]`, map[string]any{"Fn::If": []any{"Cond", map[string]any{"Ref": "A"}, "b"}}},
		{"Not Equals", `!Not [!Equals [!Ref P, ""]]`, map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "P"}, ""}}}}},
		{"Join", `!Join [",", [a, b]]`, map[string]any{"Fn::Join": []any{",", []any{"a", "b"}}}},
		{"Select Split", `!Select [1, !Split ["/", "a/b/c"]]`, map[string]any{"Fn::Select": []any{1, map[string]any{"Fn::Split": []any{"/", "a/b/c"}}}}},
		{"Condition", `!Condition HasX`, map[string]any{"Condition": "HasX"}},
		{"plain scalars keep their types", `{n: 3, b: true, s: "3"}`, map[string]any{"n": 3, "b": true, "s": "3"}},
		{"tagged number is a string", `!Ref 3`, map[string]any{"Ref": "3"}},
		{"long form untouched", `{"Fn::GetAtt": ["Q", "Arn"]}`, map[string]any{"Fn::GetAtt": []any{"Q", "Arn"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseValue(t, tt.src)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetAttWithoutDotIsAnError(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(`!GetAtt Queue`), &n); err != nil {
		t.Fatal(err)
	}
	if _, err := FromYAML(&n); err == nil {
		t.Fatal("want an error for !GetAtt without attribute")
	}
}

// fakeResources resolves Ref to "phys-<id>" and GetAtt to "<id>.<attr>".
type fakeResources struct{}

func (fakeResources) Ref(id string) (string, error) { return "phys-" + id, nil }
func (fakeResources) GetAtt(id, attr string) (string, error) {
	if attr == "Missing" {
		return "", fmt.Errorf("no %s", attr)
	}
	return id + "." + attr, nil
}

const evalTemplate = `
Parameters:
  PublicBaseUrl: {Type: String, Default: ""}
  Env: {Type: String, Default: dev}
  Count: {Type: Number, Default: 2}
  Topics: {Type: CommaDelimitedList, Default: "a, b,c"}
Conditions:
  HasPublicBaseUrl: !Not [!Equals [!Ref PublicBaseUrl, ""]]
  IsProd: !Equals [!Ref Env, prod]
  Both: !And [!Condition HasPublicBaseUrl, !Condition IsProd]
  Either: !Or [!Condition HasPublicBaseUrl, !Condition IsProd]
Resources:
  Queue: {Type: "AWS::SQS::Queue"}
  Api: {Type: "AWS::Serverless::HttpApi"}
`

func newTestEvaluator(t *testing.T, overrides map[string]string) *Evaluator {
	t.Helper()
	tmpl, err := ParseTemplate([]byte(evalTemplate))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewEvaluator(tmpl, "gazette", "us-east-1", "123456789012", overrides, fakeResources{})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestConditions(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		want      map[string]bool
	}{
		{"defaults", nil, map[string]bool{"HasPublicBaseUrl": false, "IsProd": false, "Both": false, "Either": false}},
		{"public url set", map[string]string{"PublicBaseUrl": "http://127.0.0.1:3000"}, map[string]bool{"HasPublicBaseUrl": true, "IsProd": false, "Both": false, "Either": true}},
		{"prod with url", map[string]string{"PublicBaseUrl": "https://x", "Env": "prod"}, map[string]bool{"HasPublicBaseUrl": true, "IsProd": true, "Both": true, "Either": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newTestEvaluator(t, tt.overrides)
			got := map[string]bool{}
			for name := range tt.want {
				b, err := ev.Condition(name)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got[name] = b
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEval(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		src       string
		want      any
	}{
		{"Ref parameter default", nil, `!Ref Env`, "dev"},
		{"Ref number parameter as string", nil, `!Ref Count`, "2"},
		{"Ref parameter override", map[string]string{"Env": "prod"}, `!Ref Env`, "prod"},
		{"Ref resource", nil, `!Ref Queue`, "phys-Queue"},
		{"Ref pseudo parameters", nil, `!Join ["|", [!Ref AWS::StackName, !Ref AWS::Region, !Ref AWS::AccountId, !Ref AWS::Partition, !Ref AWS::URLSuffix]]`, "gazette|us-east-1|123456789012|aws|amazonaws.com"},
		{"GetAtt", nil, `!GetAtt Queue.Arn`, "Queue.Arn"},
		{"GetAtt list form", nil, `!GetAtt [Queue, QueueUrl]`, "Queue.QueueUrl"},
		{"Sub pseudo and resource", nil, `!Sub "${AWS::StackName}-articles-${AWS::AccountId}-${AWS::Region}"`, "gazette-articles-123456789012-us-east-1"},
		{"Sub GetAtt", nil, `!Sub "${Queue.Arn}/index/byStatus"`, "Queue.Arn/index/byStatus"},
		{"Sub Ref resource", nil, `!Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"`, "https://phys-Api.execute-api.us-east-1.amazonaws.com"},
		{"Sub list form variables", nil, "!Sub\n  - \"${Name}-${Env}\"\n  - Name: !Ref Queue", "phys-Queue-dev"},
		{"Sub literal", nil, `!Sub "${!NotAVar}-${Env}"`, "${NotAVar}-dev"},
		{"If false branch", nil, `!If [HasPublicBaseUrl, !Ref PublicBaseUrl, "fallback"]`, "fallback"},
		{"If true branch", map[string]string{"PublicBaseUrl": "http://127.0.0.1:3000"}, `!If [HasPublicBaseUrl, !Ref PublicBaseUrl, !GetAtt Queue.Missing]`, "http://127.0.0.1:3000"},
		{"If NoValue drops the key", nil, `{a: !If [IsProd, x, !Ref AWS::NoValue], b: 1}`, map[string]any{"b": 1}},
		{"Select Split", nil, `!Select [2, !Split ["/", "a/b/c"]]`, "c"},
		{"Join nested", nil, `!Join ["", ["arn:", !Ref AWS::Partition, ":s3:::", !Ref Queue]]`, "arn:aws:s3:::phys-Queue"},
		{"Ref list parameter", nil, `!Join ["|", !Ref Topics]`, "a|b|c"},
		{"Select from list parameter", nil, `!Select [1, !Ref Topics]`, "b"},
		{"Equals", nil, `!Equals [!Ref Env, dev]`, true},
		{"nested maps and lists", nil, `{Variables: {A: !Ref Env, L: [!Ref Queue, 3]}}`, map[string]any{"Variables": map[string]any{"A": "dev", "L": []any{"phys-Queue", 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newTestEvaluator(t, tt.overrides)
			got, err := ev.Eval(parseValue(t, tt.src))
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	tests := []struct {
		name, src, wantErr string
	}{
		{"unknown Ref", `!Ref Nope`, "neither a parameter nor a resource"},
		{"unknown GetAtt resource", `!GetAtt Nope.Arn`, "not a resource"},
		{"unknown attribute", `!GetAtt Queue.Missing`, "no Missing"},
		{"unknown Sub variable", `!Sub "${Nope}"`, "${Nope}"},
		{"unknown condition", `!If [Nope, a, b]`, "condition Nope is not declared"},
		{"Select out of range", `!Select [5, [a]]`, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newTestEvaluator(t, nil)
			_, err := ev.Eval(parseValue(t, tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestOverrideOfUndeclaredParameterFails(t *testing.T) {
	tmpl, err := ParseTemplate([]byte(evalTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewEvaluator(tmpl, "s", "r", "a", map[string]string{"Typo": "x"}, nil); err == nil {
		t.Fatal("want an error for an undeclared parameter")
	}
}

func TestDependencyOrder(t *testing.T) {
	tmpl, err := ParseTemplate([]byte(`
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    DependsOn: Policy
    Properties:
      NotificationConfiguration:
        QueueConfigurations: [{Event: "s3:ObjectCreated:*", Queue: !GetAtt Queue.Arn}]
  Policy:
    Type: AWS::SQS::QueuePolicy
    Properties: {Queues: [!Ref Queue]}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: 3}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {X: !Sub "${Bucket}-${Table.Arn}"}}
  Table: {Type: AWS::DynamoDB::Table}
  DLQ: {Type: AWS::SQS::Queue}
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dependencyOrder(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	// Template order wherever dependencies allow: Table is free first.
	want := []string{"Table", "DLQ", "Queue", "Policy", "Bucket", "Fn"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order mismatch (-want +got):\n%s", diff)
	}
}

func TestDependencyCycle(t *testing.T) {
	tmpl, err := ParseTemplate([]byte(`
Resources:
  A: {Type: AWS::SQS::Queue, DependsOn: B}
  B: {Type: AWS::SQS::Queue, Properties: {X: !Ref A}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dependencyOrder(tmpl); err == nil || !strings.Contains(err.Error(), "circular") {
		t.Fatalf("err = %v, want a circular dependency error", err)
	}
}

func TestFunctionFolder(t *testing.T) {
	for id, want := range map[string]string{
		"IngestArticleFunction":   "ingest-article",
		"SendBatchFunction":       "send-batch",
		"SubscriptionApiFunction": "subscription-api",
		"SesFeedbackFunction":     "ses-feedback",
		"Echo":                    "echo",
	} {
		t.Run(id, func(t *testing.T) {
			if got := FunctionFolder(id); got != want {
				t.Errorf("FunctionFolder(%q) = %q, want %q", id, got, want)
			}
		})
	}
}

func TestGeneratePassword(t *testing.T) {
	pw, err := GeneratePassword(64, GenerateOptions{ExcludePunctuation: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) != 64 {
		t.Errorf("len = %d, want 64", len(pw))
	}
	if strings.ContainsAny(pw, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ") {
		t.Errorf("password %q has punctuation", pw)
	}
	other, _ := GeneratePassword(64, GenerateOptions{ExcludePunctuation: true})
	if other == pw {
		t.Error("two generated passwords are equal")
	}
}

// TestProjectTemplateResolves checks that template.yaml parses and that every
// function's environment resolves with the local parameters, without any
// emulator: resources resolve to fakes.
func TestProjectTemplateResolves(t *testing.T) {
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Skipf("no template.yaml: %v", err)
	}
	tmpl, err := ParseTemplate(b)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewEvaluator(tmpl, DefaultStackName, DefaultRegion, DefaultAccountID,
		map[string]string{"PublicBaseUrl": "http://127.0.0.1:3000"}, fakeResources{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dependencyOrder(tmpl); err != nil {
		t.Fatal(err)
	}
	functions := 0
	for id, r := range tmpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		functions++
		t.Run(id, func(t *testing.T) {
			env := mergeGlobals(asMap(tmpl.Globals["Function"]), r.Properties)["Environment"]
			got, err := ev.Eval(env)
			if err != nil {
				t.Fatalf("environment: %v", err)
			}
			vars := asMap(asMap(got)["Variables"])
			if v, ok := vars["PUBLIC_BASE_URL"]; ok && v != "http://127.0.0.1:3000" {
				t.Errorf("PUBLIC_BASE_URL = %v, want the local API (PublicBaseUrl override)", v)
			}
			if vars["LOG_LEVEL"] == nil {
				t.Error("Globals' LOG_LEVEL not merged")
			}
		})
	}
	if functions == 0 {
		t.Error("template.yaml declares no functions")
	}
}
