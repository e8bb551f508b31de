package dynamo

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// TestIntegrationSuppressionLog writes departures through every path of
// the store against the emulator and reads them back with
// SuppressedSince; the log's items must stay out of ListConfirmed (the
// byStatus index) and Each (a Scan).
func TestIntegrationSuppressionLog(t *testing.T) {
	ctx := context.Background()
	api := subscribersIntegrationClient(t)
	table := createSubscribersTable(t, api)
	s := NewSubscribers(api, table)
	start := time.Now().UTC()

	subs := make([]subscription.Record, 7)
	for i := range subs {
		r := subConfirmed(100 + i)
		if err := s.Save(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
		subs[i] = r
	}
	pending := subPending(subAnnID, "ann@example.com")
	if err := s.Save(ctx, pending, 0); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	steps := []struct {
		name string
		do   func() error
	}{
		{"bounce", func() error { return s.Suppress(ctx, subs[0].ID, gazette.SubscriberBounced, "hard bounce", at) }},
		{"complaint", func() error { return s.Suppress(ctx, subs[1].ID, gazette.SubscriberComplained, "complaint", at) }},
		{"complaint after the bounce", func() error {
			return s.Suppress(ctx, subs[0].ID, gazette.SubscriberComplained, "complaint", at)
		}},
		{"unsubscribe", func() error {
			r, err := s.Load(ctx, subs[2].ID)
			if err != nil {
				return err
			}
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyOneClick, at)
			return s.Save(ctx, r, r.Version)
		}},
		{"pending unsubscribes", func() error {
			r, err := s.Load(ctx, subAnnID)
			if err != nil {
				return err
			}
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyUnsubscribe, at)
			return s.Save(ctx, r, r.Version)
		}},
		{"erasure", func() error { return s.Forget(ctx, subs[3].ID, at) }},
		{"import", func() error {
			r, err := s.Load(ctx, subs[4].ID)
			if err != nil {
				return err
			}
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyImport, at)
			fresh := subscription.Record{Subscriber: gazette.Subscriber{ID: gazette.SubscriberID("gone@example.com")}}
			fresh.Move(gazette.SubscriberBounced, subscription.WhyImport, at)
			return s.PutMany(ctx, []subscription.Record{r, fresh})
		}},
		{"unknown address bounces", func() error {
			return s.Suppress(ctx, gazette.SubscriberID("stranger@example.com"), gazette.SubscriberBounced, "hard bounce", at)
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}

	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	got, err := s.SuppressedSince(ctx, start, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{subs[0].ID: true, subs[1].ID: true, subs[2].ID: true, subs[3].ID: true, subs[4].ID: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SuppressedSince() (-want +got):\n%s", diff)
	}
	if got, err := s.SuppressedSince(ctx, start.Add(-200*time.Hour), time.Now()); err != nil || len(got) != len(want) {
		t.Errorf("SuppressedSince(200 h ago) = %d IDs, %v; want %d", len(got), err, len(want))
	}
	if got, err := s.SuppressedSince(ctx, start.Add(time.Hour), time.Now().Add(2*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("SuppressedSince(later hours) = %v, %v; want none", got, err)
	}

	// The log's items: in the hour of the writes, with the TTL attribute.
	out, err := api.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	logItems := 0
	for _, it := range out.Items {
		id := it["id"].(*types.AttributeValueMemberS).Value
		if !isSuppressionItem(id) {
			continue
		}
		logItems++
		hour, err := time.Parse(suppressionHour, strings.SplitN(strings.TrimPrefix(id, suppressionPrefix), "#", 2)[0])
		if err != nil || hour.Before(start.Truncate(time.Hour)) || hour.After(time.Now()) {
			t.Errorf("log item %s: hour %v, %v", id, hour, err)
		}
		exp, ok := it["expiresAt"].(*types.AttributeValueMemberN)
		if !ok || exp.Value != fmt.Sprint(hour.Add(96*time.Hour).Unix()) {
			t.Errorf("log item %s: expiresAt %v, want %d", id, it["expiresAt"], hour.Add(96*time.Hour).Unix())
		}
	}
	if logItems == 0 {
		t.Fatal("no log items in the table")
	}

	var listed []string
	cursor := ""
	for {
		page, next, err := s.ListConfirmed(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range page {
			listed = append(listed, sub.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if diff := cmp.Diff([]string{subs[5].ID, subs[6].ID}, listed, sorted); diff != "" {
		t.Errorf("ListConfirmed() (-want +got):\n%s", diff)
	}

	var each []string
	if err := s.Each(ctx, func(r subscription.Record) error { each = append(each, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	wantEach := []string{subAnnID, gazette.SubscriberID("gone@example.com"), gazette.SubscriberID("stranger@example.com")}
	for _, r := range subs {
		wantEach = append(wantEach, r.ID)
	}
	if diff := cmp.Diff(wantEach, each, sorted); diff != "" {
		t.Errorf("Each() (-want +got):\n%s", diff)
	}
}
