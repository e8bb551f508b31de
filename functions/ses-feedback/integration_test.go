package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/localstack/stacktest"
	"github.com/gazette-news/gazette/internal/subscription"
)

// TestIntegrationFeedbackSuppresses publishes SES events to the stack's SNS
// topic, as SES's configuration set would on AWS (the SES emulator publishes
// none), and checks that they travel SNS → SQS → ses-feedback and suppress
// the subscribers: a permanent bounce and a complaint at once, a transient
// bounce not at all.
func TestIntegrationFeedbackSuppresses(t *testing.T) {
	st := stacktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := st.Clients()
	table, err := st.TableName("SubscribersTable")
	if err != nil {
		t.Fatal(err)
	}
	topic := st.Resources["SesEventsTopic"]
	if topic == nil || topic.PhysicalID == "" {
		t.Fatal("no SesEventsTopic in the stack")
	}
	subs := dynamo.NewSubscribers(c.DynamoDB, table)
	run := time.Now().UnixNano()
	addr := func(who string) string { return fmt.Sprintf("%s+%d@example.com", who, run) }
	tests := []struct {
		who, eventType, bounceType string
		want                       gazette.SubscriberStatus
	}{
		{"hard", "Bounce", "Permanent", gazette.SubscriberBounced},
		{"complainer", "Complaint", "", gazette.SubscriberComplained},
		{"soft", "Bounce", "Transient", gazette.SubscriberConfirmed},
	}
	for _, tt := range tests {
		email := addr(tt.who)
		rec := subscription.Record{Subscriber: gazette.Subscriber{
			ID: gazette.SubscriberID(email), Email: email, Status: gazette.SubscriberConfirmed,
			CreatedAt: time.Now().UTC(), ConfirmedAt: time.Now().UTC(),
		}}
		// PutMany writes unconditionally, so an SDK retry of a create moto
		// had already applied cannot turn the seeding into a conflict (the
		// likely cause of one seen once in make test).
		if err := subs.PutMany(ctx, []subscription.Record{rec}); err != nil {
			t.Fatal(err)
		}
		ev := map[string]any{
			"eventType": tt.eventType,
			"mail": map[string]any{"timestamp": time.Now().UTC().Format(time.RFC3339), "destination": []string{email},
				"tags": map[string][]string{"issue": {"0"}}},
		}
		switch tt.eventType {
		case "Bounce":
			ev["bounce"] = map[string]any{"bounceType": tt.bounceType, "bouncedRecipients": []map[string]string{{"emailAddress": email}}}
		case "Complaint":
			ev["complaint"] = map[string]any{"complainedRecipients": []map[string]string{{"emailAddress": email}}}
		}
		msg, _ := json.Marshal(ev)
		if _, err := c.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic.PhysicalID), Message: aws.String(string(msg))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			got, err := subs.Get(ctx, gazette.SubscriberID(addr(tt.who)))
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want {
				t.Errorf("after a %s %s: status %s, want %s", tt.bounceType, tt.eventType, got.Status, tt.want)
			}
		})
	}
}
