package samlocal_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/eventstest"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/localstack"
	"github.com/gazette-news/gazette/internal/scenario"
	"github.com/gazette-news/gazette/internal/subscription"
)

const (
	// innerEnv marks the copy of this test that runs inside the namespace.
	innerEnv = "GAZETTE_SAMLOCAL_INNER"
	// testNS is the test's own namespace, apart from the developer's gazette-sam.
	testNS = "gazette-samtest"
)

// Addresses of the sample events and of the subscribers this test creates: none
// may appear in a function's log line.
var addresses = []string{
	"ann@example.com",                // subscription-api-subscribe-json.json
	"ada@example.com",                // send-batch-sqs.json
	"grace@example.com",              // send-batch-sqs.json
	"bounce@simulator.amazonses.com", // ses-feedback-bounce.json
	"reader@example.com",             // the confirmed subscriber publish-digest pages
}

// TestIntegrationSamLocal invokes every function through `sam local invoke`
// (infra/sam-local.sh) with its sample event and checks what it did to the
// emulators. See the package documentation for how it runs.
func TestIntegrationSamLocal(t *testing.T) {
	if os.Getenv("GAZETTE_INTEGRATION") != "1" {
		t.Skip("sam local invoke test: set GAZETTE_INTEGRATION=1 (make test does). Without a Docker engine it starts " +
			"its own dockerd in a private network namespace, which needs root; see infra/sam-local.sh")
	}
	root := repoRoot(t)
	if os.Getenv(innerEnv) == "1" {
		inside(t, root)
		return
	}
	outside(t, root)
}

// outside brings up the namespace, dockerd, the stand-in image and the stack,
// builds the functions, runs inside() in the namespace, and tears it all down.
func outside(t *testing.T, root string) {
	if runtime.GOOS != "linux" {
		t.Fatalf("the sam local invoke test runs its own dockerd in a Linux network namespace; this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Fatal("the sam local invoke test starts its own dockerd in a private network namespace, which needs root: " +
			"run make test as root (CI does)")
	}
	dir := t.TempDir()
	script := filepath.Join(root, "infra", "sam-local.sh")
	env := append(withoutVars(os.Environ(), "DOCKER_HOST", innerEnv),
		"GAZETTE_SAM_ENGINE=netns",
		"GAZETTE_SAM_NETNS="+testNS,
		"GAZETTE_SAM_DIR="+filepath.Join(dir, "sam"),
		"GAZETTE_SAM_DOCKER_ROOT="+filepath.Join(dir, "docker"),
		"GAZETTE_SAM_PURGE=1",
	)
	run := func(timeout time.Duration, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, script, args...)
		cmd.Dir, cmd.Env, cmd.WaitDelay = root, env, 10*time.Second
		out, err := cmd.CombinedOutput()
		t.Logf("infra/sam-local.sh %s (%s):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), indent(out))
		if err != nil {
			t.Fatalf("infra/sam-local.sh %s: %v (output above)", strings.Join(args, " "), err)
		}
	}

	// An earlier run that was killed may have left the namespace behind.
	if nsExists(t, testNS) {
		t.Logf("namespace %s left by an earlier run: stopping it first", testNS)
		run(3*time.Minute, "stop")
	}
	hostLinks := links(t)
	t.Cleanup(func() {
		run(3*time.Minute, "stop")
		if nsExists(t, testNS) {
			t.Errorf("namespace %s still exists after infra/sam-local.sh stop", testNS)
		}
	})

	total := time.Now()
	run(15*time.Minute, "up")
	if added := newLinks(hostLinks, links(t)); len(added) > 0 {
		t.Errorf("interfaces appeared in the host's namespace: %v (Docker's bridge must exist only inside %s)", added, testNS)
	}
	run(10*time.Minute, "build")

	// The checks run inside the namespace: that is where the emulators are.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, script, "exec", exe,
		"-test.run", "^TestIntegrationSamLocal$", "-test.count", "1", "-test.v", "-test.timeout", "15m")
	// GAZETTE_SAM_BUILD=reuse: what was built above is what is tested, even if
	// someone edits the tree meanwhile.
	cmd.Dir, cmd.Env, cmd.WaitDelay = ".", append(env, innerEnv+"=1", "GAZETTE_SAM_BUILD=reuse"), 10*time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("inside %s:\n%s", testNS, indent(out))
	if err != nil {
		t.Fatalf("the checks inside namespace %s failed: %v (output above)", testNS, err)
	}
	t.Logf("sam local invoke test: %s from nothing to five checked invocations", time.Since(total).Round(time.Second))
}

// inside runs in the namespace: it invokes each function through
// infra/sam-local.sh and checks the emulators.
func inside(t *testing.T, root string) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	samDir := os.Getenv("GAZETTE_SAM_DIR")
	if samDir == "" {
		t.Fatal("GAZETTE_SAM_DIR is not set: the inner test runs through infra/sam-local.sh exec")
	}
	st, err := localstack.ReadStack(filepath.Join(samDir, "stack", "stack.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := st.Clients()
	name := func(v string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	bucket := name(st.BucketName("ArticlesBucket"))
	subs := dynamo.NewSubscribers(c.DynamoDB, name(st.TableName("SubscribersTable")))
	articles := dynamo.NewArticles(c.DynamoDB, name(st.TableName("ArticlesTable")))
	issues := dynamo.NewIssues(c.DynamoDB, name(st.TableName("IssuesTable")))
	mailbox := scenario.Mailbox{URL: st.Endpoints.SESv2}
	inv := &invoker{ctx: ctx, root: root}

	t.Run("SubscriptionApiFunction", func(t *testing.T) {
		out := inv.invoke(t, "SubscriptionApiFunction", "subscription-api-subscribe-json.json")
		var resp struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response is not an API Gateway v2 response: %v\n%s", err, out)
		}
		if resp.StatusCode != 202 {
			t.Errorf("statusCode = %d, want 202 (accepted, confirmation mail sent); body %s", resp.StatusCode, resp.Body)
		}
		s, err := subs.Get(ctx, gazette.SubscriberID("ann@example.com"))
		if err != nil {
			t.Fatalf("subscriber ann@example.com: %v", err)
		}
		if s.Status != gazette.SubscriberPending {
			t.Errorf("subscriber status = %q, want pending", s.Status)
		}
		mails := mailsTo(t, ctx, mailbox, "ann@example.com")
		if len(mails) != 1 || !strings.Contains(strings.ToLower(mails[0].Subject), "confirm") {
			t.Errorf("want one confirmation mail to ann@example.com in SES's store, got %d: %v", len(mails), subjects(mails))
		}
	})

	var articleID string
	t.Run("IngestArticleFunction", func(t *testing.T) {
		evBucket, key := s3EventObject(t, "ingest-article-s3-sqs.json")
		if evBucket != bucket {
			t.Fatalf("events/ingest-article-s3-sqs.json names bucket %s; the stack's is %s", evBucket, bucket)
		}
		body, err := os.ReadFile(filepath.Join(root, "infra", "samples", filepath.Base(key)))
		if err != nil {
			t.Fatalf("the event's object: %v", err)
		}
		// Only sam local invoke may ingest it: switch off the bucket's S3 → SQS
		// notification, else the stack's own poller would take it first.
		if _, err := c.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String(bucket), NotificationConfiguration: &s3types.NotificationConfiguration{},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		}); err != nil {
			t.Fatal(err)
		}
		out := inv.invoke(t, "IngestArticleFunction", "ingest-article-s3-sqs.json")
		checkNoBatchFailures(t, out)
		processed := "processed/" + strings.TrimPrefix(key, "incoming/")
		if _, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(processed)}); err != nil {
			t.Errorf("s3://%s/%s: %v (the article should have moved there)", bucket, processed, err)
		}
		if _, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
			t.Errorf("s3://%s/%s is still there", bucket, key)
		}
		ids, err := articles.PendingIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 {
			t.Fatalf("pending articles = %v, want exactly the one ingested", ids)
		}
		a, err := articles.Get(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if a.Title == "" || len(a.Paragraphs) == 0 {
			t.Errorf("stored article has title %q and %d paragraphs", a.Title, len(a.Paragraphs))
		}
		articleID = a.ID
		t.Logf("article %s stored: %q, %d paragraphs", a.ID, a.Title, len(a.Paragraphs))
	})

	var issue gazette.IssueState
	t.Run("PublishDigestFunction", func(t *testing.T) {
		if articleID == "" {
			t.Skip("no article was ingested")
		}
		confirmed(t, ctx, subs, "reader@example.com")
		inv.invoke(t, "PublishDigestFunction", "publish-digest-schedule.json")
		var err error
		issue, err = issues.Get(ctx, 1)
		if err != nil {
			t.Fatalf("issue 1: %v", err)
		}
		if issue.Status != gazette.IssueEnqueued || issue.Batches != 1 || issue.Recipients != 1 ||
			!slices.Contains(issue.ArticleIDs, articleID) {
			t.Errorf("issue 1 = status %q, %d batches, %d recipients, articles %v; want enqueued, 1, 1, [%s]",
				issue.Status, issue.Batches, issue.Recipients, issue.ArticleIDs, articleID)
		}
		if _, err := c.SESv2.GetEmailTemplate(ctx, &sesv2.GetEmailTemplateInput{TemplateName: aws.String(issue.Template)}); err != nil {
			t.Errorf("SES template %q of issue 1: %v", issue.Template, err)
		}
		list, err := c.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("archive/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Contents) == 0 {
			t.Errorf("nothing under s3://%s/archive/", bucket)
		}
		t.Logf("issue 1: %q, template %s, %d archive objects", issue.Subject, issue.Template, len(list.Contents))
	})

	t.Run("SendBatchFunction", func(t *testing.T) {
		if issue.Template == "" {
			t.Skip("issue 1 was not published: its SES template is missing")
		}
		if want := sendBatchTemplate(t, "send-batch-sqs.json"); want != issue.Template {
			t.Fatalf("events/send-batch-sqs.json sends template %q; issue 1's is %q", want, issue.Template)
		}
		out := inv.invoke(t, "SendBatchFunction", "send-batch-sqs.json")
		checkNoBatchFailures(t, out)
		for _, addr := range []string{"ada@example.com", "grace@example.com"} {
			mails := mailsTo(t, ctx, mailbox, addr)
			if len(mails) != 1 {
				t.Errorf("%s got %d mails, want 1: %v", addr, len(mails), subjects(mails))
				continue
			}
			m := mails[0]
			if m.Header("List-Unsubscribe") == "" || m.Header("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
				t.Errorf("mail to %s: List-Unsubscribe %q, List-Unsubscribe-Post %q", addr,
					m.Header("List-Unsubscribe"), m.Header("List-Unsubscribe-Post"))
			}
			t.Logf("%s: %q (%s)", addr, m.Subject, m.MessageID)
		}
	})

	t.Run("SesFeedbackFunction", func(t *testing.T) {
		const addr = "bounce@simulator.amazonses.com"
		confirmed(t, ctx, subs, addr)
		out := inv.invoke(t, "SesFeedbackFunction", "ses-feedback-bounce.json")
		checkNoBatchFailures(t, out)
		s, err := subs.Get(ctx, gazette.SubscriberID(addr))
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != gazette.SubscriberBounced {
			t.Errorf("after a permanent bounce the subscriber is %q, want bounced", s.Status)
		}
	})

	if inv.logLines == 0 {
		t.Error("no function log line came through sam local invoke")
	}
	t.Logf("%d function log lines, all JSON, none with a subscriber's address", inv.logLines)
}

// invoker runs infra/sam-local.sh FUNCTION EVENT and checks the log lines.
type invoker struct {
	ctx      context.Context
	root     string
	logLines int
}

func (inv *invoker) invoke(t *testing.T, fn, event string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(inv.ctx, filepath.Join(inv.root, "infra", "sam-local.sh"), fn, filepath.Join("events", event))
	cmd.Dir, cmd.Stdout, cmd.Stderr, cmd.WaitDelay = inv.root, &stdout, &stderr, 10*time.Second
	start := time.Now()
	err := cmd.Run()
	t.Logf("sam local invoke %s -e events/%s: %s", fn, event, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("infra/sam-local.sh %s events/%s: %v\nstderr:\n%s\nstdout:\n%s", fn, event, err, indent(stderr.Bytes()), stdout.Bytes())
	}
	out := bytes.TrimSpace(stdout.Bytes())
	var failure struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(out, &failure) == nil && (failure.ErrorMessage != "" || failure.ErrorType != "") {
		t.Fatalf("%s failed: %s\nstderr:\n%s", fn, out, indent(stderr.Bytes()))
	}
	if len(out) == 0 {
		t.Fatalf("%s: no response on stdout\nstderr:\n%s", fn, indent(stderr.Bytes()))
	}
	// The function's own lines (SAM prints them on stderr) are JSON, and name
	// subscribers by ID only.
	sc := bufio.NewScanner(bytes.NewReader(stderr.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		inv.logLines++
		if !json.Valid([]byte(line)) {
			t.Errorf("%s: log line is not JSON: %s", fn, line)
		}
		for _, a := range addresses {
			if strings.Contains(strings.ToLower(line), a) {
				t.Errorf("%s: log line contains the address %s: %s", fn, a, line)
			}
		}
	}
	t.Logf("%s answered: %s", fn, truncate(out, 300))
	return out
}

func checkNoBatchFailures(t *testing.T, out []byte) {
	t.Helper()
	var resp struct {
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response is not an SQS batch response: %v: %s", err, out)
	}
	if len(resp.BatchItemFailures) > 0 {
		t.Errorf("batch item failures: %s", out)
	}
}

// confirmed stores a confirmed subscriber directly, as a finished double opt-in would.
func confirmed(t *testing.T, ctx context.Context, subs *dynamo.Subscribers, addr string) {
	t.Helper()
	now := time.Now().UTC()
	r := subscription.Record{Subscriber: gazette.Subscriber{
		ID: gazette.SubscriberID(addr), Email: addr, Name: "Test Reader", Status: gazette.SubscriberConfirmed,
		CreatedAt: now, UpdatedAt: now, ConfirmedAt: now,
	}}
	err := subs.Save(ctx, r, 0)
	if err == nil {
		return
	}
	// The SDK retries a write whose answer it lost (moto closes idle keep-alive
	// connections): the retry then finds our own first attempt.
	old, lerr := subs.Load(ctx, r.ID)
	if lerr == nil && old.Status == gazette.SubscriberConfirmed && old.Email == addr && old.Version == 1 {
		t.Logf("store confirmed subscriber %s: %v; the item is ours (a retried write)", r.ID, err)
		return
	}
	t.Fatalf("store confirmed subscriber %s: %v; stored: %+v (load: %v)", r.ID, err, old, lerr)
}

func mailsTo(t *testing.T, ctx context.Context, mb scenario.Mailbox, addr string) []scenario.Mail {
	t.Helper()
	all, err := mb.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []scenario.Mail
	for _, m := range all {
		if m.To(addr) {
			out = append(out, m)
		}
	}
	return out
}

func subjects(ms []scenario.Mail) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Subject)
	}
	return s
}

// sqsBody returns the body of the one SQS record of events/<name>.
func sqsBody(t *testing.T, name string) string {
	t.Helper()
	ev := eventstest.Load[events.SQSEvent](t, name)
	if len(ev.Records) != 1 {
		t.Fatalf("events/%s: want one SQS record, got %d", name, len(ev.Records))
	}
	return ev.Records[0].Body
}

// s3EventObject returns the bucket and key of the S3 notification inside the
// SQS event events/<name>.
func s3EventObject(t *testing.T, name string) (bucket, key string) {
	t.Helper()
	var s3Event struct {
		Records []struct {
			S3 struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if err := json.Unmarshal([]byte(sqsBody(t, name)), &s3Event); err != nil || len(s3Event.Records) != 1 {
		t.Fatalf("events/%s: the SQS body is not one S3 notification: %v", name, err)
	}
	return s3Event.Records[0].S3.Bucket.Name, s3Event.Records[0].S3.Object.Key
}

func sendBatchTemplate(t *testing.T, name string) string {
	t.Helper()
	var b gazette.SendBatch
	if err := json.Unmarshal([]byte(sqsBody(t, name)), &b); err != nil {
		t.Fatalf("events/%s: %v", name, err)
	}
	return b.Template
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func nsExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join("/run/netns", name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func links(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

func newLinks(before, after []string) []string {
	var added []string
	for _, n := range after {
		if !slices.Contains(before, n) {
			added = append(added, n)
		}
	}
	return added
}

func withoutVars(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(names, k)
	})
}

func indent(b []byte) string {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("%s… (%d bytes)", b[:n], len(b))
}
