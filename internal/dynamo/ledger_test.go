package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/delivery"
)

// fakeLedgerAPI serves the batch calls from a map keyed by recipient.
// leaveUnprocessed leaves the first k requests of each call unprocessed
// that many times; failWrite fails the nth BatchWriteItem call (1-based).
type fakeLedgerAPI struct {
	LedgerAPI
	items            map[string]map[string]types.AttributeValue
	writeSizes       []int
	getSizes         []int
	leaveUnprocessed int
	rounds           int
	failWrite        int
	writes           int
}

func recipientOf(item map[string]types.AttributeValue) string {
	return item["recipient"].(*types.AttributeValueMemberS).Value
}

func (f *fakeLedgerAPI) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.writes++
	if f.writes == f.failWrite {
		return nil, errors.New("connection reset")
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{}}
	for table, reqs := range in.RequestItems {
		if len(reqs) > maxBatchWrite {
			return nil, fmt.Errorf("ValidationException: %d requests", len(reqs))
		}
		f.writeSizes = append(f.writeSizes, len(reqs))
		seen := map[string]bool{}
		for i, r := range reqs {
			id := recipientOf(r.PutRequest.Item)
			if seen[id] {
				return nil, errors.New("ValidationException: duplicate key")
			}
			seen[id] = true
			if i < f.leaveUnprocessed && f.rounds > 0 {
				out.UnprocessedItems[table] = append(out.UnprocessedItems[table], r)
				continue
			}
			f.items[id] = r.PutRequest.Item
		}
	}
	if len(out.UnprocessedItems) > 0 {
		f.rounds--
	}
	return out, nil
}

func (f *fakeLedgerAPI) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}, UnprocessedKeys: map[string]types.KeysAndAttributes{}}
	for table, ka := range in.RequestItems {
		f.getSizes = append(f.getSizes, len(ka.Keys))
		var left []map[string]types.AttributeValue
		for i, k := range ka.Keys {
			if i < f.leaveUnprocessed && f.rounds > 0 {
				left = append(left, k)
				continue
			}
			if item, ok := f.items[recipientOf(k)]; ok {
				out.Responses[table] = append(out.Responses[table], item)
			}
		}
		if left != nil {
			out.UnprocessedKeys[table] = types.KeysAndAttributes{Keys: left, ConsistentRead: ka.ConsistentRead}
			f.rounds--
		}
	}
	return out, nil
}

func records(n int) []delivery.Record {
	var rs []delivery.Record
	for i := range n {
		rs = append(rs, delivery.Record{Recipient: fmt.Sprintf("r%02d", i), State: delivery.Sent, MessageID: fmt.Sprint("m", i), At: time.Unix(0, 0)})
	}
	return rs
}

func TestLedgerRecordAndLookup(t *testing.T) {
	batchBackoff = time.Microsecond
	tests := []struct {
		name             string
		n                int
		leaveUnprocessed int
		rounds           int
		wantWrites       []int
	}{
		{name: "50 outcomes in two calls of 25", n: 50, wantWrites: []int{25, 25}},
		{name: "unprocessed items are sent again", n: 30, leaveUnprocessed: 3, rounds: 2, wantWrites: []int{25, 3, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeLedgerAPI{items: map[string]map[string]types.AttributeValue{}, leaveUnprocessed: tt.leaveUnprocessed, rounds: tt.rounds}
			l := NewLedger(api, "ledger")
			rs := records(tt.n)
			rs[1].State, rs[1].Reason = delivery.Failed, "MessageRejected"
			if err := l.Record(context.Background(), 3, rs); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantWrites, api.writeSizes); diff != "" {
				t.Errorf("BatchWriteItem sizes (-want +got):\n%s", diff)
			}
			api.rounds = tt.rounds
			ids := []string{"r00", "r01", "r00", "nobody"}
			for _, r := range rs {
				ids = append(ids, r.Recipient)
			}
			got, err := l.Lookup(context.Background(), 3, ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n || got["r00"] != delivery.Sent || got["r01"] != delivery.Failed {
				t.Errorf("Lookup: %d known, r00 %v, r01 %v", len(got), got["r00"], got["r01"])
			}
			if _, ok := got["nobody"]; ok {
				t.Error("Lookup knows a recipient without a record")
			}
		})
	}
}

// TestLedgerRecordReportsUnwritten: a failed call's items and items still
// unprocessed after the retries are named, the rest are written.
func TestLedgerRecordReportsUnwritten(t *testing.T) {
	batchBackoff = time.Microsecond
	api := &fakeLedgerAPI{items: map[string]map[string]types.AttributeValue{}, failWrite: 2}
	l := NewLedger(api, "ledger")
	err := l.Record(context.Background(), 3, records(30))
	var re *delivery.RecordError
	if !errors.As(err, &re) {
		t.Fatalf("Record() = %v, want a *delivery.RecordError", err)
	}
	var want []string
	for _, r := range records(30)[25:] {
		want = append(want, r.Recipient)
	}
	if diff := cmp.Diff(want, re.Unwritten); diff != "" {
		t.Errorf("unwritten (-want +got):\n%s", diff)
	}
	if len(api.items) != 25 {
		t.Errorf("%d written, want 25", len(api.items))
	}

	api = &fakeLedgerAPI{items: map[string]map[string]types.AttributeValue{}, leaveUnprocessed: 2, rounds: 1000}
	err = NewLedger(api, "ledger").Record(context.Background(), 3, records(5))
	if !errors.As(err, &re) || !slices.Equal(re.Unwritten, []string{"r00", "r01"}) {
		t.Errorf("Record() = %v, want r00 and r01 unwritten", err)
	}
}

type fakeQuery struct {
	pages [][]map[string]types.AttributeValue
}

func (f *fakeQuery) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
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

// TestLedgerCounts: recipients by state, plus the pending counts of held
// (in flight) and open (to retry) batch claims; done claims count nothing.
func TestLedgerCounts(t *testing.T) {
	s := func(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }
	q := &fakeQuery{pages: [][]map[string]types.AttributeValue{
		{{"state": s("sent")}, {"state": s("sent")}, {"state": s("failed")}, {"claim": s("held"), "pending": number(50)}},
		{{"claim": s("open"), "pending": number(3)}, {"claim": s("done"), "pending": number(0)}, {"state": s("sent")}},
	}}
	got, err := LedgerCounts(context.Background(), q, "ledger", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"sent": 3, "failed": 1, "claimed": 50, "retry": 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}
