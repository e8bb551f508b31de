package dynamo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/gazette"
)

// fakeLedgerAPI records UpdateItem and GetItem calls; refuse answers the
// first n UpdateItem calls with ConditionalCheckFailedException carrying
// refusedItem, and get is what GetItem returns.
type fakeLedgerAPI struct {
	LedgerAPI
	updates     []*dynamodb.UpdateItemInput
	gets        int
	refuse      int
	refusedItem map[string]types.AttributeValue
	old         map[string]types.AttributeValue // ALL_OLD on success
	get         map[string]types.AttributeValue
}

func (f *fakeLedgerAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.updates = append(f.updates, in)
	if f.refuse > 0 {
		f.refuse--
		return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed"), Item: f.refusedItem}
	}
	return &dynamodb.UpdateItemOutput{Attributes: f.old}, nil
}

func (f *fakeLedgerAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.gets++
	return &dynamodb.GetItemOutput{Item: f.get}, nil
}

func ss(v ...string) *types.AttributeValueMemberSS { return &types.AttributeValueMemberSS{Value: v} }
func str(v string) *types.AttributeValueMemberS    { return &types.AttributeValueMemberS{Value: v} }

func TestLedgerClaim(t *testing.T) {
	k := delivery.BatchKey{Issue: 3, Batch: 2, Hash: "h1"}
	tests := []struct {
		name      string
		api       *fakeLedgerAPI
		want      delivery.ClaimState
		wantKnown map[string]delivery.ClaimState
		wantGets  int
	}{
		{name: "fresh batch", api: &fakeLedgerAPI{}, want: delivery.Claimed, wantKnown: map[string]delivery.ClaimState{}},
		{
			name: "open batch returns what earlier deliveries recorded",
			api: &fakeLedgerAPI{old: map[string]types.AttributeValue{
				"claim": str("open"), "sent": ss("a m1", "b m2"), "failed": ss("c MessageRejected", "b rejected once"),
				"suppressed": ss("d"),
			}},
			want:      delivery.Claimed,
			wantKnown: map[string]delivery.ClaimState{"a": delivery.Sent, "b": delivery.Sent, "c": delivery.Failed, "d": delivery.Suppressed},
		},
		{
			name: "done for these recipients, from the refusal's item",
			api:  &fakeLedgerAPI{refuse: 1, refusedItem: map[string]types.AttributeValue{"claim": str("done"), "hash": str("h1")}},
			want: delivery.Done,
		},
		{
			name: "held elsewhere, from the refusal's item",
			api:  &fakeLedgerAPI{refuse: 1, refusedItem: map[string]types.AttributeValue{"claim": str("held"), "hash": str("h1")}},
			want: delivery.InFlight,
		},
		{
			name:     "refusal without its item reads the claim",
			api:      &fakeLedgerAPI{refuse: 1, get: map[string]types.AttributeValue{"claim": str("done"), "hash": str("h1")}},
			want:     delivery.Done,
			wantGets: 1,
		},
		{
			name:     "gone by the time it is read: in flight, try again",
			api:      &fakeLedgerAPI{refuse: 1},
			want:     delivery.InFlight,
			wantGets: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, known, err := NewLedger(tt.api, "ledger").Claim(context.Background(), k, "me", 50, time.Unix(100, 0), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if st != tt.want {
				t.Errorf("state = %v, want %v", st, tt.want)
			}
			if diff := cmp.Diff(tt.wantKnown, known); diff != "" {
				t.Errorf("known (-want +got):\n%s", diff)
			}
			if tt.api.gets != tt.wantGets {
				t.Errorf("%d GetItem calls, want %d", tt.api.gets, tt.wantGets)
			}
			in := tt.api.updates[0]
			if in.ReturnValues != types.ReturnValueAllOld || in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
				t.Errorf("claim does not ask for the old item: %v / %v", in.ReturnValues, in.ReturnValuesOnConditionCheckFailure)
			}
			if got := in.Key["recipient"].(*types.AttributeValueMemberS).Value; got != "batch#2" {
				t.Errorf("claim key = %q, want batch#2", got)
			}
		})
	}
}

func TestLedgerRecord(t *testing.T) {
	k := delivery.BatchKey{Issue: 3, Batch: 2, Hash: "h1"}
	outcomes := []delivery.Record{
		{Recipient: "a", State: delivery.Sent, MessageID: "m1"},
		{Recipient: "b", State: delivery.Failed, Reason: "MessageRejected"},
		{Recipient: "c", State: delivery.Sent, MessageID: "m3"},
	}
	sentOnly := outcomes[:1]
	tests := []struct {
		name      string
		rs        []delivery.Record
		rel       delivery.Release
		refuse    int
		wantExprs []string
		wantSent  []string
		wantFail  []string
		wantKind  gazette.Kind // of the error; KindUnknown with no error
	}{
		{name: "outcomes and release done in one write", rs: outcomes, rel: delivery.Release{End: true, Done: true},
			wantExprs: []string{"SET #c = :state, pending = :pending, lastError = :reason REMOVE #o, leaseUntil ADD sent :sent, failed :failed"},
			wantSent:  []string{"a m1", "c m3"}, wantFail: []string{"b MessageRejected"}},
		{name: "suppressed recipients go in their own set", rs: []delivery.Record{{Recipient: "d", State: delivery.Suppressed}}, rel: delivery.Release{End: true, Done: true},
			wantExprs: []string{"SET #c = :state, pending = :pending, lastError = :reason REMOVE #o, leaseUntil ADD suppressed :suppressed"}},
		{name: "outcomes of a chunk, claim kept", rs: sentOnly,
			wantExprs: []string{"ADD sent :sent"}, wantSent: []string{"a m1"}},
		{name: "release without outcomes", rel: delivery.Release{End: true, Pending: 3, Reason: "throttled"},
			wantExprs: []string{"SET #c = :state, pending = :pending, lastError = :reason REMOVE #o, leaseUntil"}},
		{name: "nothing to write makes no call"},
		{name: "claim lost: the outcomes are written unconditionally", rs: outcomes, rel: delivery.Release{End: true, Done: true}, refuse: 1,
			wantExprs: []string{
				"SET #c = :state, pending = :pending, lastError = :reason REMOVE #o, leaseUntil ADD sent :sent, failed :failed",
				"ADD sent :sent, failed :failed"},
			wantSent: []string{"a m1", "c m3"}, wantFail: []string{"b MessageRejected"}, wantKind: gazette.KindConflict},
		{name: "claim lost with nothing to record", rel: delivery.Release{End: true}, refuse: 1,
			wantExprs: []string{"SET #c = :state, pending = :pending, lastError = :reason REMOVE #o, leaseUntil"},
			wantKind:  gazette.KindConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeLedgerAPI{refuse: tt.refuse}
			err := NewLedger(api, "ledger").Record(context.Background(), k, "me", tt.rs, tt.rel)
			if got := gazette.KindOf(err); (err != nil) != (tt.wantKind != gazette.KindUnknown) || got != tt.wantKind {
				t.Fatalf("Record() = %v (kind %s), want kind %s", err, got, tt.wantKind)
			}
			var exprs []string
			for i, in := range api.updates {
				exprs = append(exprs, aws.ToString(in.UpdateExpression))
				conditional := in.ConditionExpression != nil
				if conditional != (i == 0) {
					t.Errorf("call %d conditional = %t; only the first (owner) write may be", i, conditional)
				}
				if got := setOf(in.ExpressionAttributeValues[":sent"]); !slices.Equal(got, tt.wantSent) {
					t.Errorf("call %d sent = %v, want %v", i, got, tt.wantSent)
				}
				if got := setOf(in.ExpressionAttributeValues[":failed"]); !slices.Equal(got, tt.wantFail) {
					t.Errorf("call %d failed = %v, want %v", i, got, tt.wantFail)
				}
			}
			if diff := cmp.Diff(tt.wantExprs, exprs); diff != "" {
				t.Errorf("update expressions (-want +got):\n%s", diff)
			}
		})
	}
}

func setOf(v types.AttributeValue) []string {
	if s, ok := v.(*types.AttributeValueMemberSS); ok {
		return s.Value
	}
	return nil
}

// TestLedgerRecordRefusesBadOutcomes: a state other than Sent, Failed or
// Suppressed, or one outcome given twice, is a programming error and writes
// nothing.
func TestLedgerRecordRefusesBadOutcomes(t *testing.T) {
	k := delivery.BatchKey{Issue: 3, Batch: 2}
	for _, rs := range [][]delivery.Record{
		{{Recipient: "a", State: delivery.InFlight}},
		{{Recipient: "a", State: delivery.Sent, MessageID: "m"}, {Recipient: "a", State: delivery.Sent, MessageID: "m"}},
	} {
		api := &fakeLedgerAPI{}
		if err := NewLedger(api, "ledger").Record(context.Background(), k, "me", rs, delivery.Release{End: true}); err == nil {
			t.Errorf("Record(%v) = nil, want an error", rs)
		}
		if len(api.updates) != 0 {
			t.Errorf("Record(%v) wrote %d times", rs, len(api.updates))
		}
	}
}

type fakeQuery struct {
	pages [][]map[string]types.AttributeValue
	ins   []*dynamodb.QueryInput
}

func (f *fakeQuery) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.ins = append(f.ins, in)
	i := 0
	if in.ExclusiveStartKey != nil {
		i = 1
	}
	out := &dynamodb.QueryOutput{Items: f.pages[i]}
	if i+1 < len(f.pages) {
		out.LastEvaluatedKey = map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: "next"}}
	}
	return out, nil
}

// TestLedgerCounts: recipients by outcome from the batch items' sets, plus
// the pending counts of held (in flight) and open (to retry) batches; done
// batches count no pending.
func TestLedgerCounts(t *testing.T) {
	q := &fakeQuery{pages: [][]map[string]types.AttributeValue{
		{
			{"claim": str("done"), "pending": number(0), "sent": ss("a m1", "b m2"), "failed": ss("c bad")},
			{"claim": str("held"), "pending": number(50)},
		},
		{
			{"claim": str("open"), "pending": number(3), "sent": ss("d m4"), "suppressed": ss("f", "g")},
			{"claim": str("done"), "pending": number(0), "sent": ss("e m5"), "failed": ss("e rejected before")},
		},
	}}
	got, err := LedgerCounts(context.Background(), q, "ledger", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"sent": 4, "failed": 1, "suppressed": 2, "claimed": 50, "retry": 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if kc := aws.ToString(q.ins[0].KeyConditionExpression); !strings.Contains(kc, "begins_with") {
		t.Errorf("query %q reads more than the batch items", kc)
	}
}

func ExampleLedger_Record() {
	rs := []delivery.Record{{Recipient: "a1", State: delivery.Sent, MessageID: "0100-abc"}}
	adds, values, _ := addOutcomes(rs)
	fmt.Println(adds, setOf(values[":sent"]))
	// Output: ADD sent :sent [a1 0100-abc]
}
