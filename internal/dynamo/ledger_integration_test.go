package dynamo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/delivery"
)

// TestIntegrationLedger runs the batch ledger's expressions and batch calls
// against the emulator, on a table with the template's key schema.
func TestIntegrationLedger(t *testing.T) {
	ctx := context.Background()
	api := subscribersIntegrationClient(t)
	table := fmt.Sprintf("ledger-it-%d", time.Now().UnixNano())
	if _, err := api.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("issue"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("recipient"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("issue"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("recipient"), KeyType: types.KeyTypeRange},
		},
	}); err != nil {
		t.Fatalf("create table: %v", err)
	}
	defer func() {
		_, _ = api.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	}()
	l := NewLedger(api, table)
	now := time.Now()
	k := delivery.BatchKey{Issue: 5, Batch: 1, Hash: "h1"}
	claim := func(k delivery.BatchKey, owner string, at time.Time) delivery.ClaimState {
		t.Helper()
		st, err := l.Claim(ctx, k, owner, 60, at, time.Minute)
		if err != nil {
			t.Fatalf("claim %v by %s: %v", k, owner, err)
		}
		return st
	}
	if st := claim(k, "a", now); st != delivery.Claimed {
		t.Fatalf("first claim = %v", st)
	}
	if st := claim(k, "b", now); st != delivery.InFlight {
		t.Errorf("claim while held = %v, want InFlight", st)
	}
	if err := l.Release(ctx, k, "b", true, 0, ""); err == nil {
		t.Error("release by a non-owner succeeded")
	}
	// a's lease runs out; b takes over; a's late release leaves b's claim.
	if st := claim(k, "b", now.Add(2*time.Minute)); st != delivery.Claimed {
		t.Errorf("claim after the lease = %v, want Claimed", st)
	}
	if err := l.Release(ctx, k, "a", true, 0, ""); err == nil {
		t.Error("release by the expired owner succeeded")
	}

	var rs []delivery.Record
	var ids []string
	for i := range 60 {
		id := fmt.Sprintf("sub%02d", i)
		ids = append(ids, id)
		r := delivery.Record{Recipient: id, State: delivery.Sent, MessageID: "m" + id, At: now, Batch: 1}
		if i == 7 {
			r = delivery.Record{Recipient: id, State: delivery.Failed, Reason: "MessageRejected", Batch: 1}
		}
		rs = append(rs, r)
	}
	if err := l.Record(ctx, 5, rs[:50]); err != nil {
		t.Fatal(err)
	}
	got, err := l.Lookup(ctx, 5, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 || got["sub00"] != delivery.Sent || got["sub07"] != delivery.Failed {
		t.Errorf("lookup: %d known (want 50), sub00 %v, sub07 %v", len(got), got["sub00"], got["sub07"])
	}
	if err := l.Release(ctx, k, "b", false, 10, "throttled"); err != nil {
		t.Fatalf("release open: %v", err)
	}
	if st := claim(k, "c", now.Add(2*time.Minute)); st != delivery.Claimed {
		t.Errorf("claim of an open batch = %v, want Claimed", st)
	}
	if err := l.Record(ctx, 5, rs[50:]); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, k, "c", true, 0, ""); err != nil {
		t.Fatalf("release done: %v", err)
	}
	if st := claim(k, "d", now.Add(3*time.Minute)); st != delivery.Done {
		t.Errorf("claim of a done batch = %v, want Done", st)
	}
	// Re-formed under the same number: other recipients, another hash.
	if st := claim(delivery.BatchKey{Issue: 5, Batch: 1, Hash: "h2"}, "e", now.Add(3*time.Minute)); st != delivery.Claimed {
		t.Errorf("claim of a re-formed batch = %v, want Claimed", st)
	}
	counts, err := LedgerCounts(ctx, api, table, 5)
	if err != nil {
		t.Fatal(err)
	}
	if counts["sent"] != 59 || counts["failed"] != 1 || counts["claimed"] != 60 {
		t.Errorf("counts = %v, want 59 sent, 1 failed, 60 claimed", counts)
	}
}
