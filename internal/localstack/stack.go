package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// StackFile is where provisioning writes the stack's description, relative to
// the repository root.
const StackFile = "out/stack/stack.json"

// Stack describes a provisioned local stack: endpoints, resources and
// functions. It is what `gazette stack provision` writes to out/stack/stack.json
// and what `serve`, the tests and the demo read.
type Stack struct {
	StackName  string               `json:"stackName"`
	Region     string               `json:"region"`
	AccountID  string               `json:"accountId"`
	Endpoints  Endpoints            `json:"endpoints"`
	Parameters map[string]string    `json:"parameters"`
	Resources  map[string]*Physical `json:"resources"`
	Functions  []*Function          `json:"functions"`
	Outputs    map[string]string    `json:"outputs,omitempty"`
	// ProvisionedAt is when provisioning finished (RFC 3339).
	ProvisionedAt string `json:"provisionedAt"`
}

// Endpoints are the local stack's URLs, all on 127.0.0.1.
type Endpoints struct {
	// AWS is moto server: S3 (path style), DynamoDB, SQS, SNS, Secrets Manager.
	AWS string `json:"aws"`
	// SESv2 is aws-ses-v2-local (its sent mail: GET SESv2 + "/store").
	SESv2 string `json:"sesv2"`
	// HTTPAPI is the subscription HTTP API served by `gazette stack serve`.
	HTTPAPI string `json:"httpApi"`
	// Lambda is serve's invoke API (POST /2015-03-31/functions/{id}/invocations).
	Lambda string `json:"lambda"`
}

// Physical is one provisioned (or deliberately skipped) resource.
type Physical struct {
	Type string `json:"type"`
	// PhysicalID is what Ref returns: bucket or table name, queue URL, topic ARN…
	PhysicalID string `json:"physicalId,omitempty"`
	ARN        string `json:"arn,omitempty"`
	URL        string `json:"url,omitempty"`
	// Attributes holds what Fn::GetAtt returns, by attribute name.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Skipped says why nothing was created locally (IAM policies, API
	// definitions served by serve, types an emulator lacks).
	Skipped string `json:"skipped,omitempty"`
}

// Function is one Lambda function of the template, resolved for local runs.
type Function struct {
	LogicalID string `json:"logicalId"`
	// Folder is the function's folder under functions/ and out/bin/.
	Folder       string            `json:"folder"`
	FunctionName string            `json:"functionName"`
	Timeout      int               `json:"timeout"`
	MemorySize   int               `json:"memorySize"`
	Environment  map[string]string `json:"environment"`
	// LogFormat is LoggingConfig.LogFormat (JSON or Text), passed on as
	// AWS_LAMBDA_LOG_FORMAT as Lambda does.
	LogFormat  string           `json:"logFormat,omitempty"`
	SQSEvents  []SQSEventSource `json:"sqsEvents,omitempty"`
	HTTPRoutes []HTTPRoute      `json:"httpRoutes,omitempty"`
}

// SQSEventSource is a local stand-in for an SQS event source mapping.
type SQSEventSource struct {
	Name                    string `json:"name"`
	Queue                   string `json:"queue"`
	QueueURL                string `json:"queueUrl"`
	QueueARN                string `json:"queueArn"`
	BatchSize               int    `json:"batchSize"`
	ReportBatchItemFailures bool   `json:"reportBatchItemFailures"`
	Enabled                 bool   `json:"enabled"`
}

// HTTPRoute is one HttpApi event of a function.
type HTTPRoute struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path"`
}

// ErrNotRunning is returned (wrapped) by Discover when no stack was provisioned.
var ErrNotRunning = errors.New("local stack not provisioned: run make stack-up")

// Discover reads root/out/stack/stack.json, written by `gazette stack provision`.
func Discover(root string) (*Stack, error) {
	return ReadStack(filepath.Join(root, StackFile))
}

// EnvStackDir names the stack's state directory when it is not
// out/stack (infra/stack.sh's GAZETTE_STACK_DIR, for a second stack on
// other ports).
const EnvStackDir = "GAZETTE_STACK_DIR"

// StackDir is the stack's state directory: $GAZETTE_STACK_DIR, else the
// repository's out/stack.
func StackDir() (string, error) {
	if dir := os.Getenv(EnvStackDir); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "out", "stack"), nil
}

// RepoRoot finds the module root (the directory holding go.mod and
// template.yaml) from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "template.yaml")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod with template.yaml above the working directory")
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ReadStack reads a stack description file.
func ReadStack(path string) (*Stack, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s is missing)", ErrNotRunning, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read stack description: %w", err)
	}
	var s Stack
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &s, nil
}

// Write stores the description as dir/stack.json, atomically so that readers
// never see half a file.
func (s *Stack) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write stack description: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stack description: %w", err)
	}
	tmp := filepath.Join(dir, ".stack.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write stack description: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "stack.json")); err != nil {
		return fmt.Errorf("write stack description: %w", err)
	}
	return nil
}

func (s *Stack) resource(logicalID, typ string) (*Physical, error) {
	p, ok := s.Resources[logicalID]
	if !ok {
		return nil, fmt.Errorf("stack %s has no resource %s", s.StackName, logicalID)
	}
	if p.Type != typ {
		return nil, fmt.Errorf("resource %s is a %s, not a %s", logicalID, p.Type, typ)
	}
	return p, nil
}

// QueueURL returns the URL of an AWS::SQS::Queue by logical ID.
func (s *Stack) QueueURL(logicalID string) (string, error) {
	p, err := s.resource(logicalID, "AWS::SQS::Queue")
	if err != nil {
		return "", err
	}
	return p.URL, nil
}

// TableName returns the name of an AWS::DynamoDB::Table by logical ID.
func (s *Stack) TableName(logicalID string) (string, error) {
	p, err := s.resource(logicalID, "AWS::DynamoDB::Table")
	if err != nil {
		return "", err
	}
	return p.PhysicalID, nil
}

// BucketName returns the name of an AWS::S3::Bucket by logical ID.
func (s *Stack) BucketName(logicalID string) (string, error) {
	p, err := s.resource(logicalID, "AWS::S3::Bucket")
	if err != nil {
		return "", err
	}
	return p.PhysicalID, nil
}

// FunctionError is returned by Invoke when the function itself failed
// (returned an error, panicked, crashed or timed out).
type FunctionError struct {
	LogicalID string
	// Payload is Lambda's error document, e.g. {"errorMessage":…,"errorType":…}.
	Payload []byte
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function %s failed: %s", e.LogicalID, bytes.TrimSpace(e.Payload))
}

// Invoke calls a function synchronously through serve's invoke API (the
// `sam local start-lambda` protocol) and returns its response payload. A
// failure of the function itself is a *FunctionError.
func (s *Stack) Invoke(ctx context.Context, logicalID string, payload []byte) ([]byte, error) {
	url := fmt.Sprintf("%s/2015-03-31/functions/%s/invocations", s.Endpoints.Lambda, logicalID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", logicalID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w (is the stack up? run make stack-up)", logicalID, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: read response: %w", logicalID, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke %s: %s: %s", logicalID, resp.Status, bytes.TrimSpace(body))
	}
	if resp.Header.Get("X-Amz-Function-Error") != "" {
		return body, &FunctionError{LogicalID: logicalID, Payload: body}
	}
	return body, nil
}

// Status is serve's view of its work, from GET {Lambda}/_stack/status.
type Status struct {
	// Idle is true when no invocation runs and every polled queue is empty,
	// visible, in flight and delayed messages alike.
	Idle      bool                      `json:"idle"`
	Functions map[string]FunctionStatus `json:"functions"`
	Queues    map[string]QueueStatus    `json:"queues"`
}

// FunctionStatus counts one function's invocations.
type FunctionStatus struct {
	Running     bool  `json:"running"`
	Invocations int64 `json:"invocations"`
	Errors      int64 `json:"errors"`
	Busy        int   `json:"busy"`
	Restarts    int64 `json:"restarts"`
}

// QueueStatus is one polled queue's approximate depth.
type QueueStatus struct {
	URL        string `json:"url"`
	Visible    int    `json:"visible"`
	InFlight   int    `json:"inFlight"`
	Delayed    int    `json:"delayed"`
	InPoller   int    `json:"inPoller"`
	Error      string `json:"error,omitempty"`
	Deliveries int64  `json:"deliveries"`
}

// Status asks serve for its current status.
func (s *Stack) Status(ctx context.Context) (*Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoints.Lambda+"/_stack/status", nil)
	if err != nil {
		return nil, fmt.Errorf("stack status: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("stack status: %w (is the stack up? run make stack-up)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("stack status: %s", resp.Status)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("stack status: decode: %w", err)
	}
	return &st, nil
}

// WaitIdle returns when every queue the stack polls is empty (visible, in
// flight and delayed) and no invocation runs, seen twice in a row so that a
// message passed from one function to the next is not missed; or with the
// context's error.
func (s *Stack) WaitIdle(ctx context.Context) error {
	idleSeen := 0
	for {
		st, err := s.Status(ctx)
		if err != nil {
			return err
		}
		if st.Idle {
			idleSeen++
			if idleSeen >= 2 {
				return nil
			}
		} else {
			idleSeen = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the stack to be idle: %w (last status: %s)", ctx.Err(), st.summary())
		case <-time.After(150 * time.Millisecond):
		}
	}
}

func (st *Status) summary() string {
	b, _ := json.Marshal(st)
	return string(b)
}
