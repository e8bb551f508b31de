package localstack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/gazette-news/gazette/internal/localstack"
	"github.com/gazette-news/gazette/internal/localstack/stacktest"
	"github.com/gazette-news/gazette/internal/scenario"
)

// uniqueStackName keeps each test's resources apart from the real stack's
// (physical names start with the stack name) and from earlier runs.
func uniqueStackName(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "gzit-" + hex.EncodeToString(b[:])
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewJSONHandler(tLogWriter{t}, nil))
}

type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// templateCopyWithExtraQueue is template.yaml with one more queue, as a
// reviewer would add one: resources come from the template, not from a list.
func templateCopyWithExtraQueue(t *testing.T, root string) string {
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var extra yaml.Node
	if err := yaml.Unmarshal([]byte(`
Type: AWS::SQS::Queue
Properties:
  VisibilityTimeout: 42
  RedrivePolicy:
    deadLetterTargetArn: !GetAtt SendBatchDLQ.Arn
    maxReceiveCount: 7
`), &extra); err != nil {
		t.Fatal(err)
	}
	top := doc.Content[0]
	added := false
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "Resources" {
			top.Content[i+1].Content = append(top.Content[i+1].Content,
				&yaml.Node{Kind: yaml.ScalarNode, Value: "ExtraTestQueue"}, extra.Content[0])
			added = true
		}
	}
	if !added {
		t.Fatal("template.yaml has no Resources")
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// provisionCopy provisions a temporary copy of template.yaml (plus one queue)
// under its own stack name.
func provisionCopy(t *testing.T) (*localstack.Stack, *localstack.Clients) {
	t.Helper()
	live := stacktest.Require(t)
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := localstack.LoadTemplate(templateCopyWithExtraQueue(t, root))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := localstack.ProvisionOptions{
		Template: tmpl, StackName: uniqueStackName(t), Endpoints: live.Endpoints,
		Params: map[string]string{"PublicBaseUrl": "http://127.0.0.1:3000"}, Logger: testLogger(t),
	}
	st, err := localstack.Provision(ctx, opts)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	// Idempotent: a second run on the same stack changes nothing and succeeds.
	again, err := localstack.Provision(ctx, opts)
	if err != nil {
		t.Fatalf("provision again: %v", err)
	}
	if diff := cmp.Diff(st.Resources, again.Resources); diff != "" {
		t.Errorf("second provisioning resolved differently (-first +second):\n%s", diff)
	}
	return st, st.Clients()
}

func TestIntegrationProvisionTemplateCopyWithExtraQueue(t *testing.T) {
	st, c := provisionCopy(t)
	ctx := context.Background()
	name := st.StackName + "-ExtraTestQueue"
	got, err := c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("the added queue %s does not exist: %v", name, err)
	}
	url, err := st.QueueURL("ExtraTestQueue")
	if err != nil || url != aws.ToString(got.QueueUrl) {
		t.Errorf("stack.QueueURL = %q, %v; SQS says %q", url, err, aws.ToString(got.QueueUrl))
	}
	attrs, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: got.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Attributes["VisibilityTimeout"] != "42" {
		t.Errorf("VisibilityTimeout = %q, want 42", attrs.Attributes["VisibilityTimeout"])
	}
	var redrive struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     any    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(attrs.Attributes["RedrivePolicy"]), &redrive); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", attrs.Attributes["RedrivePolicy"], err)
	}
	if want := st.Resources["SendBatchDLQ"].ARN; redrive.DeadLetterTargetArn != want {
		t.Errorf("redrive target = %q, want the DLQ %q", redrive.DeadLetterTargetArn, want)
	}
	for _, id := range []string{"ArticlesTable", "SubscribersTable", "LedgerTable", "IssuesTable"} {
		name, err := st.TableName(id)
		if err != nil || !strings.HasPrefix(name, st.StackName+"-") {
			t.Errorf("TableName(%s) = %q, %v", id, name, err)
		}
	}
	if len(st.Functions) != 5 {
		t.Errorf("%d functions resolved, want 5", len(st.Functions))
	}
}

func TestIntegrationS3PrefixNotificationReachesQueueAsS3Event(t *testing.T) {
	st, c := provisionCopy(t)
	ctx := context.Background()
	bucket, err := st.BucketName("ArticlesBucket")
	if err != nil {
		t.Fatal(err)
	}
	queue, err := st.QueueURL("ArticleEventsQueue")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"elsewhere/ignored.txt", "incoming/seed.txt"} {
		if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("hello")}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	var keys []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 && len(keys) > 0 {
			break
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			if strings.Contains(body, `"s3:TestEvent"`) {
				continue // S3 sends one when the notification is configured
			}
			var ev events.S3Event
			if err := json.Unmarshal([]byte(body), &ev); err != nil {
				t.Fatalf("message is not an events.S3Event: %v\n%s", err, body)
			}
			for _, r := range ev.Records {
				if r.EventTime.IsZero() || r.EventTime.Year() < 2020 {
					t.Errorf("event time %v not parsed", r.EventTime)
				}
				if !strings.HasPrefix(r.EventName, "ObjectCreated:") || r.S3.Bucket.Name != bucket {
					t.Errorf("unexpected record %+v", r)
				}
				// Keys in S3 events are URL-encoded (AWS: spaces as "+");
				// moto also encodes "/" (quote_plus), so consumers must
				// unescape, as they should on AWS anyway.
				key, err := url.QueryUnescape(r.S3.Object.Key)
				if err != nil {
					t.Errorf("key %q: %v", r.S3.Object.Key, err)
				}
				keys = append(keys, key)
			}
		}
	}
	if diff := cmp.Diff([]string{"incoming/seed.txt"}, keys); diff != "" {
		t.Errorf("keys notified (-want +got):\n%s", diff)
	}
}

func TestIntegrationSNSTopicDeliversToSubscribedQueue(t *testing.T) {
	st, c := provisionCopy(t)
	ctx := context.Background()
	topic := st.Resources["SesEventsTopic"].ARN
	if _, err := c.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(`{"eventType":"Bounce"}`)}); err != nil {
		t.Fatal(err)
	}
	queue, _ := st.QueueURL("SesEventsQueue")
	out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), WaitTimeSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("got %d messages on the subscribed queue, want 1", len(out.Messages))
	}
	var env events.SNSEntity
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &env); err != nil {
		t.Fatal(err)
	}
	if env.Message != `{"eventType":"Bounce"}` || env.TopicArn != topic {
		t.Errorf("SNS envelope = %+v", env)
	}
}

// ---------------------------------------------------------------- serve with the echo function

const echoTemplate = `
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 10
    Environment: {Variables: {LOG_LEVEL: INFO}}
Resources:
  EchoDLQ:
    Type: AWS::SQS::Queue
  EchoQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy: {deadLetterTargetArn: !GetAtt EchoDLQ.Arn, maxReceiveCount: 2}
  EchoApi:
    Type: AWS::Serverless::HttpApi
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {QUEUE_URL: !Ref EchoQueue}}
      Events:
        Queue:
          Type: SQS
          Properties: {Queue: !GetAtt EchoQueue.Arn, BatchSize: 10, FunctionResponseTypes: [ReportBatchItemFailures]}
        Item:
          Type: HttpApi
          Properties: {ApiId: !Ref EchoApi, Method: GET, Path: "/echo/{id}"}
        Any:
          Type: HttpApi
          Properties: {ApiId: !Ref EchoApi, Method: ANY, Path: /echo}
`

type echoStack struct {
	st     *localstack.Stack
	c      *localstack.Clients
	logDir string
}

// provisionEcho builds the echo test function and provisions a
// one-function stack for it next to (not instead of) the running stack. It
// returns the stack and the directory holding echo/bootstrap.
func provisionEcho(t *testing.T) (*localstack.Stack, string) {
	t.Helper()
	live := stacktest.Require(t)
	if _, err := os.Stat(localstack.RIEPath()); err != nil {
		stacktest.Unavailable(t, err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(bin, "echo", "bootstrap"), "./testdata/echofn")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build echo function: %v\n%s", err, out)
	}
	tmpl, err := localstack.ParseTemplate([]byte(echoTemplate))
	if err != nil {
		t.Fatal(err)
	}
	st, err := localstack.Provision(context.Background(), localstack.ProvisionOptions{
		Template: tmpl, StackName: uniqueStackName(t), Endpoints: live.Endpoints, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, bin
}

// startEcho provisions the echo stack and serves it on free ports.
func startEcho(t *testing.T) *echoStack {
	t.Helper()
	st, bin := provisionEcho(t)
	logDir := t.TempDir()
	srv, err := localstack.NewServer(localstack.ServeOptions{
		Stack: st, BinDir: bin, RIEPath: localstack.RIEPath(), LogDir: logDir, Logger: testLogger(t),
		APIAddr: "127.0.0.1:0", LambdaAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Endpoints.HTTPAPI, st.Endpoints.Lambda = srv.APIURL(), srv.LambdaURL()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &echoStack{st: st, c: st.Clients(), logDir: logDir}
}

// TestIntegrationColdStart measures cold starts of the echo function under
// RIE, as `gazette bench coldstart` does for the real ones: a payload the
// handler takes, one it refuses (the measure stands), one that crashes the
// environment (no measure), and a function the stack does not have.
func TestIntegrationColdStart(t *testing.T) {
	st, bin := provisionEcho(t)
	srv, err := localstack.NewServer(localstack.ServeOptions{
		Stack: st, BinDir: bin, RIEPath: localstack.RIEPath(), LogDir: t.TempDir(), Logger: testLogger(t),
		APIAddr: "127.0.0.1:0", LambdaAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tests := []struct {
		name        string
		function    string
		payload     string
		wantRefused bool
		wantErr     string
	}{
		{name: "taken", function: "EchoFunction", payload: `{"hello":"world"}`},
		{name: "refused", function: "EchoFunction", payload: `{"fail":true}`, wantRefused: true},
		{name: "crashed", function: "EchoFunction", payload: `{"Records":[{"messageId":"m","body":"crash"}]}`, wantErr: "environment failed"},
		{name: "unknown function", function: "NoSuchFunction", payload: `{}`, wantErr: "no function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := srv.ColdStart(ctx, tt.function, []byte(tt.payload))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.First <= 0 || c.Warm <= 0 {
				t.Errorf("first %v, warm %v: want both measured", c.First, c.Warm)
			}
			if c.Refused != tt.wantRefused {
				t.Errorf("Refused = %v, want %v", c.Refused, tt.wantRefused)
			}
		})
	}
}

func TestIntegrationInvokeAPI(t *testing.T) {
	e := startEcho(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.st.Invoke(ctx, "EchoFunction", []byte(`{"hello":"world"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(bytes.TrimSpace(out)) != `{"hello":"world"}` {
		t.Errorf("echo = %s", out)
	}
	_, err = e.st.Invoke(ctx, "EchoFunction", []byte(`{"fail":true}`))
	var fe *localstack.FunctionError
	if !errors.As(err, &fe) || !bytes.Contains(fe.Payload, []byte("asked to fail")) {
		t.Errorf("err = %v, want a FunctionError with the function's message", err)
	}
	// The function keeps working after an error.
	if _, err := e.st.Invoke(ctx, "EchoFunction", []byte(`{}`)); err != nil {
		t.Errorf("invoke after an error: %v", err)
	}
	// A crash mid-invocation is a function error, and the next invocation
	// gets a fresh runtime.
	_, err = e.st.Invoke(ctx, "EchoFunction", []byte(`{"Records":[{"messageId":"m","body":"crash"}]}`))
	if !errors.As(err, &fe) {
		t.Errorf("crash: err = %v, want a FunctionError", err)
	}
	if out, err := e.st.Invoke(ctx, "EchoFunction", []byte(`{"again":1}`)); err != nil || !bytes.Contains(out, []byte("again")) {
		t.Errorf("invoke after a crash: %s, %v", out, err)
	}
	if _, err := e.st.Invoke(ctx, "NoSuchFunction", []byte(`{}`)); err == nil {
		t.Error("invoking an unknown function succeeded")
	}
}

func TestIntegrationHTTPGatewayRoundTrip(t *testing.T) {
	e := startEcho(t)
	base := e.st.Endpoints.HTTPAPI

	req, _ := http.NewRequest(http.MethodGet, base+"/echo/42?a=1&a=2&b=x", nil)
	req.Header.Set("Cookie", "s=1; t=2")
	req.Header.Set("User-Agent", "stack-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	if diff := cmp.Diff([]string{"a", "b"}, resp.Header.Values("X-Echo")); diff != "" {
		t.Errorf("multi-value header (-want +got):\n%s", diff)
	}
	if got := resp.Header.Get("Set-Cookie"); got != "echo=1; Path=/" {
		t.Errorf("Set-Cookie = %q", got)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(base, "http://")
	want := struct {
		Version, RouteKey, RawPath, RawQuery, Domain, Stage, Method, Path, UA, Proto string
		Query, PathParams                                                            map[string]string
		Cookies                                                                      []string
	}{"2.0", "GET /echo/{id}", "/echo/42", "a=1&a=2&b=x", host, "$default", "GET", "/echo/42", "stack-test", "http",
		map[string]string{"a": "1,2", "b": "x"}, map[string]string{"id": "42"}, []string{"s=1", "t=2"}}
	got := want
	got.Version, got.RouteKey, got.RawPath, got.RawQuery = ev.Version, ev.RouteKey, ev.RawPath, ev.RawQueryString
	got.Domain, got.Stage, got.Method, got.Path = ev.RequestContext.DomainName, ev.RequestContext.Stage, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path
	got.UA, got.Proto = ev.RequestContext.HTTP.UserAgent, ev.Headers["x-forwarded-proto"]
	got.Query, got.PathParams, got.Cookies = ev.QueryStringParameters, ev.PathParameters, ev.Cookies
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if ev.RequestContext.RequestID == "" || ev.RequestContext.HTTP.SourceIP != "127.0.0.1" || ev.RequestContext.TimeEpoch == 0 {
		t.Errorf("request context incomplete: %+v", ev.RequestContext)
	}

	// Bodies: text types as is, others base64.
	for _, tc := range []struct {
		ct     string
		base64 bool
	}{{"application/json", false}, {"application/x-www-form-urlencoded", false}, {"application/octet-stream", true}} {
		resp, err := http.Post(base+"/echo", tc.ct, strings.NewReader(`{"x":1}`))
		if err != nil {
			t.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		err = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ev.IsBase64Encoded != tc.base64 || ev.RouteKey != "ANY /echo" {
			t.Errorf("%s: isBase64Encoded = %v, routeKey %q", tc.ct, ev.IsBase64Encoded, ev.RouteKey)
		}
	}

	resp, err = http.Get(base + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || strings.TrimSpace(string(body)) != `{"message":"Not Found"}` {
		t.Errorf("unknown route: %d %s", resp.StatusCode, body)
	}
}

// TestSESEmulator pins down what the project relies on in aws-ses-v2-local:
// GetAccount from AWS_SES_ACCOUNT, stored templates, SendBulkEmail with
// per-recipient ReplacementHeaders, and the shape of GET /store.
func TestIntegrationSESEmulator(t *testing.T) {
	live := stacktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ses := live.Clients().SESv2
	acct, err := ses.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	if acct.SendQuota == nil || acct.SendQuota.MaxSendRate <= 0 {
		t.Errorf("GetAccount SendQuota = %+v, want a MaxSendRate", acct.SendQuota)
	}
	name := uniqueStackName(t) + "-issue-1"
	if _, err := ses.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{
		TemplateName: aws.String(name),
		TemplateContent: &sestypes.EmailTemplateContent{
			Subject: aws.String("Issue {{issue}}"), Html: aws.String("<p>Hi {{name}}</p>"), Text: aws.String("Hi {{name}}"),
		},
	}); err != nil {
		t.Fatalf("CreateEmailTemplate: %v", err)
	}
	to := name + "@example.com"
	out, err := ses.SendBulkEmail(ctx, &sesv2.SendBulkEmailInput{
		FromEmailAddress:     aws.String("newsletter@example.com"),
		ConfigurationSetName: aws.String("gazette-digest"),
		DefaultContent: &sestypes.BulkEmailContent{Template: &sestypes.Template{
			TemplateName: aws.String(name), TemplateData: aws.String(`{"issue":"1","name":"reader"}`),
			Headers: []sestypes.MessageHeader{{Name: aws.String("List-Unsubscribe-Post"), Value: aws.String("List-Unsubscribe=One-Click")}},
		}},
		BulkEmailEntries: []sestypes.BulkEmailEntry{{
			Destination: &sestypes.Destination{ToAddresses: []string{to}},
			ReplacementEmailContent: &sestypes.ReplacementEmailContent{ReplacementTemplate: &sestypes.ReplacementTemplate{
				ReplacementTemplateData: aws.String(`{"issue":"1","name":"Ada"}`),
			}},
			ReplacementHeaders: []sestypes.MessageHeader{{Name: aws.String("List-Unsubscribe"), Value: aws.String("<http://127.0.0.1:3000/unsubscribe?t=x>")}},
		}},
	})
	if err != nil {
		t.Fatalf("SendBulkEmail: %v", err)
	}
	if len(out.BulkEmailEntryResults) != 1 || out.BulkEmailEntryResults[0].Status != sestypes.BulkEmailStatusSuccess {
		t.Fatalf("SendBulkEmail results = %+v", out.BulkEmailEntryResults)
	}
	mails, err := scenario.Mailbox{URL: live.Endpoints.SESv2}.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range mails {
		if len(m.Destination.To) != 1 || m.Destination.To[0] != to {
			continue
		}
		found = true
		if m.Subject != "Issue 1" || !strings.Contains(m.Body.HTML, "Hi Ada") || m.Body.Text != "Hi Ada" {
			t.Errorf("rendered mail = %q / %q / %q", m.Subject, m.Body.HTML, m.Body.Text)
		}
		if m.Header("List-Unsubscribe") == "" || m.Header("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Errorf("headers = %v, want both List-Unsubscribe headers", m.Headers)
		}
		if m.MessageID != aws.ToString(out.BulkEmailEntryResults[0].MessageId) {
			t.Errorf("store messageId %q != SendBulkEmail's %q", m.MessageID, aws.ToString(out.BulkEmailEntryResults[0].MessageId))
		}
	}
	if !found {
		t.Errorf("mail to %s not in GET /store", to)
	}
}
