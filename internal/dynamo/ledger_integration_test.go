package dynamo

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/gazette"
)

// TestIntegrationLedger runs the batch ledger's conditional writes and outcome sets
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
	claim := func(k delivery.BatchKey, owner string, at time.Time) (delivery.ClaimState, map[string]delivery.ClaimState) {
		t.Helper()
		st, known, err := l.Claim(ctx, k, owner, 60, at, time.Minute)
		if err != nil {
			t.Fatalf("claim %v by %s: %v", k, owner, err)
		}
		return st, known
	}
	if st, known := claim(k, "a", now); st != delivery.Claimed || len(known) != 0 {
		t.Fatalf("first claim = %v, %v", st, known)
	}
	if st, _ := claim(k, "b", now); st != delivery.InFlight {
		t.Errorf("claim while held = %v, want InFlight", st)
	}
	var rs []delivery.Record
	for i := range 60 {
		id := fmt.Sprintf("sub%02d", i)
		r := delivery.Record{Recipient: id, State: delivery.Sent, MessageID: "m" + id}
		if i == 7 {
			r = delivery.Record{Recipient: id, State: delivery.Failed, Reason: "MessageRejected"}
		}
		rs = append(rs, r)
	}
	// a's lease runs out; b takes over; a's late Record still writes its
	// outcomes but leaves b's claim alone.
	if st, _ := claim(k, "b", now.Add(2*time.Minute)); st != delivery.Claimed {
		t.Errorf("claim after the lease = %v, want Claimed", st)
	}
	err := l.Record(ctx, k, "a", rs[:10], delivery.Release{End: true, Done: true})
	if gazette.KindOf(err) != gazette.KindConflict {
		t.Errorf("record by the expired owner = %v, want a conflict", err)
	}
	if st, _ := claim(k, "c", now.Add(2*time.Minute)); st != delivery.InFlight {
		t.Errorf("claim after the expired owner's record = %v, want InFlight (b still holds it)", st)
	}
	if err := l.Record(ctx, k, "b", rs[10:50], delivery.Release{}); err != nil {
		t.Fatalf("record a chunk: %v", err)
	}
	if err := l.Record(ctx, k, "b", nil, delivery.Release{End: true, Pending: 10, Reason: "throttled"}); err != nil {
		t.Fatalf("release open: %v", err)
	}
	// The next delivery learns all 50 outcomes from its claim.
	st, known := claim(k, "c", now.Add(2*time.Minute))
	if st != delivery.Claimed || len(known) != 50 || known["sub00"] != delivery.Sent || known["sub07"] != delivery.Failed {
		t.Errorf("claim of an open batch = %v with %d known (want 50), sub00 %v, sub07 %v", st, len(known), known["sub00"], known["sub07"])
	}
	last := append(rs[50:], delivery.Record{Recipient: "left01", State: delivery.Suppressed})
	if err := l.Record(ctx, k, "c", last, delivery.Release{End: true, Done: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := claim(k, "d", now.Add(3*time.Minute)); st != delivery.Done {
		t.Errorf("claim of a done batch = %v, want Done", st)
	}
	counts, err := LedgerCounts(ctx, api, table, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"sent": 59, "failed": 1, "suppressed": 1}; !maps.Equal(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	// Re-formed under the same number: other recipients, another hash.
	if st, known := claim(delivery.BatchKey{Issue: 5, Batch: 1, Hash: "h2"}, "e", now.Add(3*time.Minute)); st != delivery.Claimed || len(known) != 61 || known["left01"] != delivery.Suppressed {
		t.Errorf("claim of a re-formed batch = %v with %d known (left01 %v), want Claimed with 61", st, len(known), known["left01"])
	}
	counts, err = LedgerCounts(ctx, api, table, 5)
	if err != nil {
		t.Fatal(err)
	}
	if counts["claimed"] != 60 {
		t.Errorf("counts = %v, want 60 claimed", counts)
	}
}
