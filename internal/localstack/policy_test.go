package localstack

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// wildcardAllowed lists the actions AWS accepts only with Resource "*",
// each with the reason. Nothing else in a function's policy may use "*".
var wildcardAllowed = map[string]string{
	"ses:GetAccount": "account-level call: SES defines no resource type for it",
}

// policyProblems returns every statement of every function's inline
// policies that grants a wildcard action, or a "*" resource to an action
// not in wildcardAllowed, or that is not an inline statement we can read.
func policyProblems(t *Template) []string {
	var problems []string
	for _, id := range t.Order {
		r := t.Resources[id]
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		policies, _ := r.Properties["Policies"].([]any)
		if len(policies) == 0 {
			problems = append(problems, id+": no policy (it would get SAM's defaults)")
		}
		for _, p := range policies {
			doc, ok := p.(map[string]any)
			stmts, ok2 := doc["Statement"].([]any)
			if !ok || !ok2 {
				problems = append(problems, fmt.Sprintf("%s: policy %v is not an inline statement list (managed policies and SAM policy templates cannot be checked)", id, p))
				continue
			}
			for i, s := range stmts {
				st, _ := s.(map[string]any)
				actions := strs(st["Action"])
				for _, a := range actions {
					if strings.Contains(a, "*") {
						problems = append(problems, fmt.Sprintf("%s statement %d: wildcard action %q", id, i, a))
					}
				}
				for _, res := range strs(st["Resource"]) {
					if res != "*" {
						continue
					}
					for _, a := range actions {
						if _, ok := wildcardAllowed[a]; !ok {
							problems = append(problems, fmt.Sprintf("%s statement %d: Resource \"*\" for %s", id, i, a))
						}
					}
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// strs flattens a string or list of strings; intrinsic functions (scoped
// ARNs built with !Sub, !GetAtt, !Ref) are not wildcards and are skipped.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func TestTemplateLeastPrivilege(t *testing.T) {
	tmpl, err := LoadTemplate(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range policyProblems(tmpl) {
		t.Error(p)
	}
}

func TestPolicyProblemsFindsWildcards(t *testing.T) {
	tests := []struct {
		name      string
		statement string
		want      int
	}{
		{"scoped", `{Effect: Allow, Action: [s3:GetObject], Resource: !Sub "${B.Arn}/incoming/*"}`, 0},
		{"wildcard action", `{Effect: Allow, Action: "s3:*", Resource: !GetAtt B.Arn}`, 1},
		{"star resource", `{Effect: Allow, Action: [dynamodb:GetItem], Resource: "*"}`, 1},
		{"star resource allowed for GetAccount", `{Effect: Allow, Action: [ses:GetAccount], Resource: "*"}`, 0},
		{"star resource with one allowed action", `{Effect: Allow, Action: [ses:GetAccount, ses:SendEmail], Resource: "*"}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParseTemplate([]byte(`
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - ` + tt.statement + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := policyProblems(tmpl); len(got) != tt.want {
				t.Errorf("policyProblems() = %q, want %d problems", got, tt.want)
			}
		})
	}
}

// TestTemplateFunctionsThatReadMissingKeysMayList: S3 answers a missing key
// with 404 only to a caller that may list the bucket, 403 otherwise. The
// functions that take a missing key as an answer (ingest-article: an
// article already moved; publish-digest: no archive index before the first
// issue) must hold s3:ListBucket, or on AWS those answers become errors.
// moto does not enforce IAM, so no local run would show it.
func TestTemplateFunctionsThatReadMissingKeysMayList(t *testing.T) {
	tmpl, err := LoadTemplate(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"IngestArticleFunction", "PublishDigestFunction"} {
		t.Run(id, func(t *testing.T) {
			r := tmpl.Resources[id]
			if r == nil {
				t.Fatalf("no %s in the template", id)
			}
			policies, _ := r.Properties["Policies"].([]any)
			for _, p := range policies {
				doc, _ := p.(map[string]any)
				stmts, _ := doc["Statement"].([]any)
				for _, s := range stmts {
					st, _ := s.(map[string]any)
					for _, a := range strs(st["Action"]) {
						if a == "s3:ListBucket" {
							return
						}
					}
				}
			}
			t.Errorf("%s may not s3:ListBucket: S3 would answer its missing keys with 403", id)
		})
	}
}
