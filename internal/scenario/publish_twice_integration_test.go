package scenario_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/localstack/stacktest"
	"github.com/gazette-news/gazette/internal/scenario"
	"github.com/gazette-news/gazette/internal/subscription"
)

// TestIntegrationFaultPublishTwice invokes publish-digest twice for one
// issue, at once (the schedule's retry racing a manual run), with 120
// confirmed subscribers: every one of them gets the issue exactly once.
func TestIntegrationFaultPublishTwice(t *testing.T) {
	st := stacktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := st.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	run := fmt.Sprintf("twice%d", time.Now().UnixNano())
	subsTable, err := st.TableName("SubscribersTable")
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := st.BucketName("ArticlesBucket")
	if err != nil {
		t.Fatal(err)
	}
	topics := subscription.ParseTopics(subscription.DefaultTopics)
	var recs []subscription.Record
	want := map[string]int{}
	now := time.Now().UTC()
	for i := range 120 {
		email := fmt.Sprintf("p%03d+%s@example.com", i, run)
		recs = append(recs, subscription.Record{Subscriber: gazette.Subscriber{
			ID: gazette.SubscriberID(email), Email: email, Name: fmt.Sprintf("P%d", i), Topics: topics,
			Status: gazette.SubscriberConfirmed, CreatedAt: now, UpdatedAt: now, ConfirmedAt: now,
		}})
		want[email] = 1
	}
	if err := dynamo.NewSubscribers(st.Clients().DynamoDB, subsTable).PutMany(ctx, recs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Leave the next tests a list without these 120.
		subs := dynamo.NewSubscribers(st.Clients().DynamoDB, subsTable)
		for _, r := range recs {
			_ = subs.Forget(context.Background(), r.ID, time.Now().UTC())
		}
	})
	body := "---\ntitle: Ferry timetable changes from " + run + "\ntopics: [news]\n---\n\n" +
		"The harbour ferry will run every twenty minutes from Monday, the operator said on Wednesday.\n\n" +
		"Evening crossings are extended until midnight during the summer months.\n"
	key := "incoming/" + run + "/ferry.md"
	if _, err := st.Clients().S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	results := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = st.Invoke(ctx, "PublishDigestFunction", []byte(`{"action":"publish"}`))
		}()
	}
	wg.Wait()
	issue := 0
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("publish %d: %v", i, errs[i])
		}
		var res struct {
			Issue int `json:"issue"`
		}
		if err := json.Unmarshal(results[i], &res); err != nil {
			t.Fatalf("publish %d answered %s", i, results[i])
		}
		issue = max(issue, res.Issue)
	}
	if issue == 0 {
		t.Fatalf("neither publish made an issue: %s / %s", results[0], results[1])
	}
	if err := st.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := scenario.Mailbox{URL: st.Endpoints.SESv2}.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range all {
		for _, to := range m.Destination.To {
			if strings.Contains(to, "+"+run+"@") && strings.Contains(m.Body.Text, "Ferry timetable changes from "+run) {
				got[to]++
			}
		}
	}
	dupes, skips := 0, 0
	for addr := range want {
		switch {
		case got[addr] == 0:
			skips++
		case got[addr] > 1:
			dupes += got[addr] - 1
		}
	}
	if dupes != 0 || skips != 0 {
		t.Errorf("issue %d published twice: %d duplicates, %d skips among %d subscribers", issue, dupes, skips, len(want))
	}
}
