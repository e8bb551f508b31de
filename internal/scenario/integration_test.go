package scenario_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gazette-news/gazette/internal/article"
	"github.com/gazette-news/gazette/internal/localstack"
	"github.com/gazette-news/gazette/internal/localstack/stacktest"
	"github.com/gazette-news/gazette/internal/scenario"
)

// seedTitle is the title of ../shared/seed's article, kept in infra/samples.
const seedTitle = "Xi backs Putin requesting security assurances from the West"

// chrome is the seed article's page chrome and syndication footer: none of
// it may reach a reader.
var chrome = []string{
	"What's your reaction?", "In Love", "Not Sure", "You may also like", "Leave a reply",
	"Your email address will not be published", "More in:", "appeared first on",
}

var (
	titleTag  = regexp.MustCompile(`(?s)<title>.*?</title>`)
	preheader = regexp.MustCompile(`(?s)<div class="preheader"[^>]*>.*?</div>`)
)

// TestIntegrationDemo runs the demo scenario on the emulators and checks
// what readers got, from SES's store.
func TestIntegrationDemo(t *testing.T) {
	st := stacktest.Require(t)
	root := repoRoot(t)
	bucket, err := st.BucketName("ArticlesBucket")
	if err != nil {
		t.Fatal(err)
	}
	forgetSeed(t, st, root)
	run := fmt.Sprintf("it%d", time.Now().UnixNano())
	people := []scenario.Person{
		{Name: "Ada", Email: "ada+" + run + "@example.com"},
		{Name: "Grace", Email: "grace+" + run + "@example.com"},
		{Name: "", Email: "anon+" + run + "@example.com"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	mailbox := scenario.Mailbox{URL: st.Endpoints.SESv2}
	sum, err := scenario.Run(ctx, scenario.Config{
		Stack: st, S3: st.Clients().S3, Bucket: bucket,
		APIURL: st.Endpoints.HTTPAPI, Mailbox: mailbox,
		Samples: filepath.Join(root, "infra", "samples"), Prefix: run + "/",
		People: people, Out: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}

	t.Run("each reader gets exactly one issue mail", func(t *testing.T) {
		for _, p := range people {
			n := 0
			for _, d := range sum.Deliveries {
				if d.Mail.To(p.Email) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s got %d issue mails, want 1", p.Email, n)
			}
		}
	})

	t.Run("the seed article once, without its chrome", func(t *testing.T) {
		for _, d := range sum.Deliveries {
			// The subject (<title>) and the hidden preview text may repeat the
			// title; the issue body must list the article once.
			html := titleTag.ReplaceAllString(d.Mail.Body.HTML, "")
			html = preheader.ReplaceAllString(html, "")
			for part, body := range map[string]string{"HTML": html, "text": d.Mail.Body.Text} {
				if got := strings.Count(body, seedTitle); got != 1 {
					t.Errorf("%s part for %s lists the seed title %d times, want 1", part, d.Email, got)
				}
				for _, c := range chrome {
					if strings.Contains(body, c) {
						t.Errorf("%s part for %s contains page chrome %q", part, d.Email, c)
					}
				}
				if strings.Contains(body, "{{") {
					t.Errorf("%s part for %s has an unfilled placeholder", part, d.Email)
				}
			}
		}
	})

	t.Run("rejected files are kept with their reason", func(t *testing.T) {
		codes := map[string]bool{}
		for _, r := range sum.Rejected {
			codes[r.Code] = true
			if r.Reason == "" {
				t.Errorf("%s rejected without a reason", r.Key)
			}
		}
		if len(sum.Rejected) != 2 || !codes["empty"] || !codes["binary"] {
			t.Errorf("rejected = %+v, want the empty and the binary file", sum.Rejected)
		}
	})

	t.Run("one-click unsubscribe works and stops the mail", func(t *testing.T) {
		d := sum.Deliveries[0]
		if got := d.Mail.Header("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
			t.Fatalf("List-Unsubscribe-Post = %q", got)
		}
		link := strings.Trim(d.Mail.Header("List-Unsubscribe"), "<>")
		if u, err := url.Parse(link); err != nil || u.Query().Get("token") == "" {
			t.Fatalf("List-Unsubscribe = %q, want <URL with a token>", d.Mail.Header("List-Unsubscribe"))
		}
		// What a mailbox provider does when the reader clicks "Unsubscribe".
		resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("one-click POST: %s", resp.Status)
		}
		for _, other := range sum.Deliveries[1:] {
			if other.Mail.Header("List-Unsubscribe") == d.Mail.Header("List-Unsubscribe") {
				t.Errorf("%s and %s share an unsubscribe link", d.Email, other.Email)
			}
		}
	})

	t.Run("after one-click unsubscribe, the next issue skips the reader", func(t *testing.T) {
		gone := sum.Deliveries[0].Email // unsubscribed by the subtest above
		key := "incoming/" + run + "/next.md"
		body := "---\ntitle: Library opens on Sundays from " + run + "\n---\n\n" +
			"The central library will open on Sundays from next month, the council said on Tuesday.\n\n" +
			"Opening hours will be from ten to four, and the reading room stays open until six.\n"
		if _, err := st.Clients().S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		if err := st.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		out, err := st.Invoke(ctx, "PublishDigestFunction", []byte(`{"action":"publish"}`))
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Issue   int    `json:"issue"`
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Issue <= sum.Issue {
			t.Fatalf("publish answered %s, want issue > %d", out, sum.Issue)
		}
		if err := st.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		all, err := mailbox.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, m := range all {
			if m.Subject != res.Subject {
				continue
			}
			for _, p := range people {
				if m.To(p.Email) {
					got[p.Email]++
				}
			}
		}
		for _, p := range people {
			want := 1
			if p.Email == gone {
				want = 0
			}
			if got[p.Email] != want {
				t.Errorf("issue %d: %s got %d mails, want %d", res.Issue, p.Email, got[p.Email], want)
			}
		}
	})

	t.Run("function logs are JSON without addresses", func(t *testing.T) {
		checkLogs(t, st, people)
	})
}

// forgetSeed deletes the seed's article record, so that on a stack where an
// earlier run published it, this run ingests it anew instead of seeing a
// duplicate of an article already sent.
func forgetSeed(t *testing.T, st *localstack.Stack, root string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "infra", "samples", "000_5bde65eb5c9cc6ce.txt"))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := article.Parse("000_5bde65eb5c9cc6ce.txt", data, article.Options{})
	if err != nil {
		t.Fatal(err)
	}
	table, err := st.TableName("ArticlesTable")
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Clients().DynamoDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(table),
		Key:       map[string]dbtypes.AttributeValue{"id": &dbtypes.AttributeValueMemberS{Value: seed.ID}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkLogs reads every function's log and fails on a line that is not a
// JSON object or that names a subscriber's address.
func checkLogs(t *testing.T, st *localstack.Stack, people []scenario.Person) {
	addr := regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	dir, err := localstack.StackDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range st.Functions {
		path := filepath.Join(dir, "logs", fn.LogicalID+".log")
		f, err := os.Open(path)
		if err != nil {
			t.Errorf("%s: %v", fn.LogicalID, err)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		lines := 0
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" {
				continue
			}
			lines++
			var obj map[string]any
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Errorf("%s: line %d is not JSON: %.200s", fn.LogicalID, lines, line)
			}
			for _, p := range people {
				if strings.Contains(strings.ToLower(line), strings.ToLower(p.Email)) {
					t.Errorf("%s: line %d names a subscriber's address", fn.LogicalID, lines)
				}
			}
			for _, m := range addr.FindAllString(line, -1) {
				if m != fn.Environment["SENDER_ADDRESS"] {
					t.Errorf("%s: line %d has an address: %.200s", fn.LogicalID, lines, line)
				}
			}
		}
		f.Close()
		if lines == 0 && fn.LogicalID != "SesFeedbackFunction" {
			t.Errorf("%s logged nothing", fn.LogicalID)
		}
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
