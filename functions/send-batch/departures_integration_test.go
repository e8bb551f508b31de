package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// TestIntegrationDepartedDuringSend: readers who unsubscribe or bounce
// after their batch was planned are not sent the issue; they are recorded
// as suppressed, and `gazette issue status` counts them. The departures go
// through the real subscribers table's suppression log on the emulator.
func TestIntegrationDepartedDuringSend(t *testing.T) {
	e := newFaultEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	table, err := e.st.TableName("SubscribersTable")
	if err != nil {
		t.Fatal(err)
	}
	subs := dynamo.NewSubscribers(e.st.Clients().DynamoDB, table)
	bs := e.batches(60)
	planned := time.Now().UTC()
	var records []subscription.Record
	for i := range bs {
		bs[i].PlannedAt = planned
		for _, r := range bs[i].Recipients {
			rec := subscription.Record{Subscriber: gazette.Subscriber{ID: r.SubscriberID, Email: r.Email, Name: r.Name}}
			rec.Move(gazette.SubscriberConfirmed, subscription.WhyConfirmLink, planned.Add(-time.Hour))
			records = append(records, rec)
		}
	}
	if err := subs.PutMany(ctx, records); err != nil {
		t.Fatal(err)
	}
	// After the plan: one reader unsubscribes, another hard-bounces.
	unsub, bounced := bs[0].Recipients[3], bs[1].Recipients[2]
	r, err := subs.Load(ctx, unsub.SubscriberID)
	if err != nil {
		t.Fatal(err)
	}
	r.Move(gazette.SubscriberUnsubscribed, subscription.WhyOneClick, time.Now().UTC())
	if err := subs.Save(ctx, r, r.Version); err != nil {
		t.Fatal(err)
	}
	if err := subs.Suppress(ctx, bounced.SubscriberID, gazette.SubscriberBounced, "hard bounce", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}

	h := e.handler(e.st.Endpoints.SESv2, e.ledger, 100)
	h.Send.(*delivery.Service).Departures = subs
	e.deliver(ctx, h, bs, 3)
	// A redelivery of everything sends nothing more.
	e.deliver(ctx, h, bs, 1)

	want := map[string]int{}
	for _, b := range bs {
		for _, r := range b.Recipients {
			want[r.Email] = 1
		}
	}
	delete(want, unsub.Email)
	delete(want, bounced.Email)
	if diff := cmp.Diff(want, e.mailsPerRecipient(ctx)); diff != "" {
		t.Errorf("mails per recipient (-want +got):\n%s", diff)
	}
	ledgerTable, err := e.st.TableName("LedgerTable")
	if err != nil {
		t.Fatal(err)
	}
	counts, err := dynamo.LedgerCounts(ctx, e.st.Clients().DynamoDB, ledgerTable, e.issue)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"sent": 58, "suppressed": 2}, counts); diff != "" {
		t.Errorf("ledger counts (-want +got):\n%s", diff)
	}
}
