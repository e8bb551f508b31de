package dynamo

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/localstack/stacktest"
)

// TestIntegrationPlans saves and loads plans in the local stack's ledger
// table (the template's LedgerTable), with a full page of 500 recipients,
// and checks the conditional write against the emulator: the same page is
// not replaced, a later one is, an earlier one is not.
func TestIntegrationPlans(t *testing.T) {
	st := stacktest.Require(t)
	ctx := context.Background()
	table, err := st.TableName("LedgerTable")
	if err != nil {
		t.Fatal(err)
	}
	api := st.Clients().DynamoDB
	// An issue number of its own, far above any the demo publishes.
	issue := 1_000_000_000 + int(time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() {
		_, _ = api.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: ledgerKey(issue, PlanRecipient)})
	})
	plans := NewPlans(api, table)

	if _, ok, err := plans.LoadPlan(ctx, issue); err != nil || ok {
		t.Fatalf("LoadPlan before any save = ok %v, err %v; want none", ok, err)
	}
	page := func(cursor string, firstBatch, listed int, marker string) gazette.SendPlan {
		p := gazette.SendPlan{Cursor: cursor, FirstBatch: firstBatch, Listed: listed, Next: "after-" + marker}
		for b := range 10 {
			sb := gazette.SendBatch{Issue: issue, Batch: firstBatch + b + 1, Segment: "t0123456789", Template: "it-issue-1-t0123456789"}
			for r := range gazette.MaxBatchRecipients {
				n := b*gazette.MaxBatchRecipients + r
				sb.Recipients = append(sb.Recipients, gazette.Recipient{
					SubscriberID: fmt.Sprintf("%032x", n), Email: fmt.Sprintf("%s-reader-%04d@example.com", marker, n),
					Name: strings.Repeat("N", 40),
				})
			}
			p.Batches = append(p.Batches, sb)
			p.Recipients += len(sb.Recipients)
		}
		return p
	}
	first, other, second := page("", 0, 0, "first"), page("", 0, 0, "other"), page("c1", 10, 500, "second")
	steps := []struct {
		name     string
		save     gazette.SendPlan
		wantKind gazette.Kind // 0: saved
		want     gazette.SendPlan
	}{
		{"first page saved", first, 0, first},
		{"same page from another run refused", other, gazette.KindConflict, first},
		{"next page replaces it", second, 0, second},
		{"earlier page refused", other, gazette.KindConflict, second},
	}
	for _, s := range steps {
		err := plans.SavePlan(ctx, issue, s.save)
		if gazette.KindOf(err) != s.wantKind || (s.wantKind == 0 && err != nil) {
			t.Fatalf("%s: SavePlan error = %v (kind %v), want kind %v", s.name, err, gazette.KindOf(err), s.wantKind)
		}
		got, ok, err := plans.LoadPlan(ctx, issue)
		if err != nil || !ok {
			t.Fatalf("%s: LoadPlan = ok %v, err %v", s.name, ok, err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: loaded plan (-want +got):\n%s", s.name, diff)
		}
	}
}
