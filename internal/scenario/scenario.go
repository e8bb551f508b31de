// Package scenario runs Gazette's whole pipeline on the local stack the way
// people use it: readers subscribe through the HTTP API and follow the link
// in their confirmation mail, an editor drops articles into incoming/, the
// schedule fires, and the issue arrives. `make demo` prints what it did;
// the integration tests assert on it.
package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gazette-news/gazette/internal/ingest"
)

// Stack is the part of the local stack the scenario drives.
type Stack interface {
	// Invoke runs a function with payload, as `sam local invoke` would.
	Invoke(ctx context.Context, logicalID string, payload []byte) ([]byte, error)
	// WaitIdle returns once every queue the stack polls is drained.
	WaitIdle(ctx context.Context) error
}

// Person is a reader who subscribes.
type Person struct {
	Name, Email string
}

// Config says where everything is.
type Config struct {
	Stack   Stack
	S3      *s3.Client // pointed at the emulators, never at AWS
	Bucket  string     // the articles bucket
	APIURL  string     // the subscription HTTP API, e.g. http://127.0.0.1:3000
	Mailbox Mailbox
	Samples string // folder of sample articles to upload
	Prefix  string // under incoming/, keeps runs on one stack apart
	People  []Person
	Out     string    // folder for one delivered mail's HTML and text; "" writes nothing
	Log     io.Writer // progress lines; nil for none
	// Timeout bounds each wait (mail arriving, queues draining).
	Timeout time.Duration
}

// Rejection is a file that ended under rejected/.
type Rejection struct {
	Key    string `json:"key"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Delivery is one reader's copy of the issue.
type Delivery struct {
	Email     string `json:"email"`
	MessageID string `json:"messageId"`
	Mail      Mail   `json:"-"`
}

// Summary is what a run did.
type Summary struct {
	Issue         int         `json:"issue"`
	Subject       string      `json:"subject"`
	Articles      int         `json:"articles"`
	Titles        []string    `json:"titles"`
	Uploaded      []string    `json:"uploaded"`
	Rejected      []Rejection `json:"rejected"`
	Confirmations int         `json:"confirmations"`
	// Deliveries are every issue mail sent to the scenario's people, by
	// address; more than one per person would be a duplicate.
	Deliveries []Delivery `json:"deliveries"`
	OutFiles   []string   `json:"outFiles,omitempty"`
}

var confirmLink = regexp.MustCompile(`https?://[^\s"'<>]+/confirm\?token=[A-Za-z0-9_\-%.]+`)

// Run plays the scenario once.
func Run(ctx context.Context, c Config) (Summary, error) {
	var sum Summary
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	say := func(format string, args ...any) {
		if c.Log != nil {
			fmt.Fprintf(c.Log, format+"\n", args...)
		}
	}

	// 1. Readers subscribe and confirm from their inbox.
	for _, p := range c.People {
		if err := subscribe(ctx, c.APIURL, p); err != nil {
			return sum, err
		}
		say("subscribed %s", p.Email)
	}
	for _, p := range c.People {
		mail, err := waitMail(ctx, c, func(m Mail) bool { return m.To(p.Email) && confirmLink.MatchString(m.Body.Text) })
		if err != nil {
			return sum, fmt.Errorf("confirmation mail for %s: %w", p.Email, err)
		}
		link := confirmLink.FindString(mail.Body.Text)
		if err := get(ctx, link); err != nil {
			return sum, fmt.Errorf("confirm %s: %w", p.Email, err)
		}
		sum.Confirmations++
		say("confirmed %s (link from the mail %q)", p.Email, mail.Subject)
	}

	// 2. The editor drops the sample articles into incoming/.
	s3c := c.S3
	files, err := os.ReadDir(c.Samples)
	if err != nil {
		return sum, fmt.Errorf("samples: %w", err)
	}
	for _, f := range files {
		if f.IsDir() {
			continue
		}
		body, err := os.ReadFile(filepath.Join(c.Samples, f.Name()))
		if err != nil {
			return sum, err
		}
		key := ingest.IncomingPrefix + c.Prefix + f.Name()
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			return sum, fmt.Errorf("upload %s: %w", key, err)
		}
		sum.Uploaded = append(sum.Uploaded, key)
	}
	say("uploaded %d files to s3://%s/%s%s", len(sum.Uploaded), c.Bucket, ingest.IncomingPrefix, c.Prefix)
	if err := waitIdle(ctx, c); err != nil {
		return sum, err
	}
	if sum.Rejected, err = rejections(ctx, s3c, c.Bucket, ingest.RejectedPrefix+c.Prefix); err != nil {
		return sum, err
	}
	for _, r := range sum.Rejected {
		say("rejected %s: %s (%s)", r.Key, r.Reason, r.Code)
	}

	// 3. The schedule fires.
	out, err := c.Stack.Invoke(ctx, "PublishDigestFunction", []byte(`{"action":"publish"}`))
	if err != nil {
		return sum, fmt.Errorf("publish: %w", err)
	}
	var res struct {
		Issue    int      `json:"issue"`
		Subject  string   `json:"subject"`
		Articles int      `json:"articles"`
		Titles   []string `json:"titles"`
		Skipped  bool     `json:"skipped"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Issue == 0 {
		return sum, fmt.Errorf("publish answered %s", out)
	}
	sum.Issue, sum.Subject, sum.Articles, sum.Titles = res.Issue, res.Subject, res.Articles, res.Titles
	say("published issue #%d with %d articles: %q", res.Issue, res.Articles, res.Subject)
	if err := waitIdle(ctx, c); err != nil {
		return sum, err
	}

	// 4. What arrived.
	all, err := c.Mailbox.All(ctx)
	if err != nil {
		return sum, err
	}
	for _, m := range all {
		if m.Subject != sum.Subject {
			continue
		}
		for _, p := range c.People {
			if m.To(p.Email) {
				sum.Deliveries = append(sum.Deliveries, Delivery{Email: p.Email, MessageID: m.MessageID, Mail: m})
			}
		}
	}
	sort.Slice(sum.Deliveries, func(i, j int) bool { return sum.Deliveries[i].Email < sum.Deliveries[j].Email })
	if c.Out != "" && len(sum.Deliveries) > 0 {
		if sum.OutFiles, err = writeOut(c.Out, sum.Issue, sum.Deliveries[0].Mail); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

func subscribe(ctx context.Context, api string, p Person) error {
	body, _ := json.Marshal(map[string]string{"email": p.Email, "name": p.Name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(api, "/")+"/subscribe", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", p.Email, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("subscribe %s: %s: %s", p.Email, resp.Status, msg)
	}
	return nil
}

func get(ctx context.Context, link string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", redact(link), resp.Status, msg)
	}
	return nil
}

// redact drops a link's token before it goes into an error message.
func redact(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return "(link)"
	}
	u.RawQuery = ""
	return u.String()
}

func waitMail(ctx context.Context, c Config, match func(Mail) bool) (Mail, error) {
	deadline := time.Now().Add(c.Timeout)
	for {
		all, err := c.Mailbox.All(ctx)
		if err != nil {
			return Mail{}, err
		}
		for i := len(all) - 1; i >= 0; i-- {
			if match(all[i]) {
				return all[i], nil
			}
		}
		if time.Now().After(deadline) {
			return Mail{}, fmt.Errorf("none arrived within %s", c.Timeout)
		}
		select {
		case <-ctx.Done():
			return Mail{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitIdle(ctx context.Context, c Config) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if err := c.Stack.WaitIdle(ctx); err != nil {
		return fmt.Errorf("wait for the queues to drain: %w", err)
	}
	return nil
}

func rejections(ctx context.Context, s3c *s3.Client, bucket, prefix string) ([]Rejection, error) {
	out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	var rs []Rejection
	for _, o := range out.Contents {
		key := aws.ToString(o.Key)
		if !strings.HasSuffix(key, ".reason.json") {
			continue
		}
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		var r ingest.Reason
		err = json.NewDecoder(obj.Body).Decode(&r)
		obj.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", key, err)
		}
		rs = append(rs, Rejection{Key: strings.TrimSuffix(key, ".reason.json"), Code: r.Code, Reason: r.Reason})
	}
	return rs, nil
}

func writeOut(dir string, issue int, m Mail) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, fmt.Sprintf("issue-%d", issue))
	files := []string{base + ".html", base + ".txt"}
	for i, body := range []string{m.Body.HTML, m.Body.Text} {
		if err := os.WriteFile(files[i], []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	return files, nil
}
