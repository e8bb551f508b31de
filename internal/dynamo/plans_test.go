package dynamo

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
)

// fakePlansAPI keeps items by issue and sort key and applies SavePlan's
// condition as DynamoDB would. err, when set, fails every call.
type fakePlansAPI struct {
	items map[string]map[string]types.AttributeValue
	puts  []*dynamodb.PutItemInput
	gets  []*dynamodb.GetItemInput
	err   error
}

func fakeKey(key map[string]types.AttributeValue) string {
	return key["issue"].(*types.AttributeValueMemberN).Value + "|" + key["recipient"].(*types.AttributeValueMemberS).Value
}

func (f *fakePlansAPI) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.puts = append(f.puts, in)
	if f.err != nil {
		return nil, f.err
	}
	if *in.ConditionExpression != "attribute_not_exists(#p) OR (#p <> :p AND #l <= :l)" {
		return nil, errors.New("fake: unexpected condition " + *in.ConditionExpression)
	}
	k := fakeKey(in.Item)
	if old, ok := f.items[k]; ok {
		page := old[in.ExpressionAttributeNames["#p"]].(*types.AttributeValueMemberS).Value
		listed, _ := strconv.Atoi(old[in.ExpressionAttributeNames["#l"]].(*types.AttributeValueMemberN).Value)
		newListed, _ := strconv.Atoi(in.ExpressionAttributeValues[":l"].(*types.AttributeValueMemberN).Value)
		if page == in.ExpressionAttributeValues[":p"].(*types.AttributeValueMemberS).Value || listed > newListed {
			return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
		}
	}
	f.items[k] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakePlansAPI) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.gets = append(f.gets, in)
	if f.err != nil {
		return nil, f.err
	}
	item, ok := f.items[fakeKey(in.Key)]
	if !ok {
		return &dynamodb.GetItemOutput{}, nil
	}
	out := map[string]types.AttributeValue{}
	for _, name := range in.ExpressionAttributeNames { // the projection
		if v, ok := item[name]; ok {
			out[name] = v
		}
	}
	return &dynamodb.GetItemOutput{Item: out}, nil
}

func testPlan(cursor string, firstBatch, listed int, ids ...string) gazette.SendPlan {
	p := gazette.SendPlan{Cursor: cursor, FirstBatch: firstBatch, Listed: listed, Next: "next-" + cursor, Recipients: len(ids), Unmatched: 1}
	b := gazette.SendBatch{Issue: 7, Batch: firstBatch + 1, Segment: "all", Template: "gazette-issue-7"}
	for _, id := range ids {
		b.Recipients = append(b.Recipients, gazette.Recipient{SubscriberID: id, Email: id + "@example.com", Name: "Reader " + id})
	}
	p.Batches = []gazette.SendBatch{b}
	return p
}

func TestPlansSaveAndLoad(t *testing.T) {
	first := testPlan("", 0, 0, "a", "b")
	second := testPlan("cur1", 10, 500, "c")
	otherFirst := testPlan("", 0, 0, "x") // another run's forming of the first page
	tests := []struct {
		name     string
		saves    []gazette.SendPlan
		wantErrs []gazette.Kind    // per save; 0 (KindUnknown) for success
		want     *gazette.SendPlan // nil: no plan
	}{
		{name: "no plan saved", want: nil},
		{name: "saved plan reads back whole", saves: []gazette.SendPlan{first}, wantErrs: []gazette.Kind{0}, want: &first},
		{name: "a later page replaces the plan", saves: []gazette.SendPlan{first, second}, wantErrs: []gazette.Kind{0, 0}, want: &second},
		{
			name: "the same page saved again keeps the first plan", saves: []gazette.SendPlan{first, otherFirst},
			wantErrs: []gazette.Kind{0, gazette.KindConflict}, want: &first,
		},
		{
			name: "an earlier page does not replace a later one", saves: []gazette.SendPlan{second, otherFirst},
			wantErrs: []gazette.Kind{0, gazette.KindConflict}, want: &second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakePlansAPI{items: map[string]map[string]types.AttributeValue{}}
			s := NewPlans(api, "ledger")
			ctx := context.Background()
			for i, p := range tt.saves {
				err := s.SavePlan(ctx, 7, p)
				if tt.wantErrs[i] == 0 && err != nil {
					t.Fatalf("save %d: %v", i, err)
				}
				if tt.wantErrs[i] != 0 && gazette.KindOf(err) != tt.wantErrs[i] {
					t.Fatalf("save %d: error %v (kind %v), want kind %v", i, err, gazette.KindOf(err), tt.wantErrs[i])
				}
			}
			got, ok, err := s.LoadPlan(ctx, 7)
			if err != nil {
				t.Fatalf("LoadPlan: %v", err)
			}
			if ok != (tt.want != nil) {
				t.Fatalf("LoadPlan ok = %v, want %v", ok, tt.want != nil)
			}
			if tt.want != nil {
				if diff := cmp.Diff(*tt.want, got); diff != "" {
					t.Errorf("loaded plan (-want +got):\n%s", diff)
				}
			}
			if other, ok, err := s.LoadPlan(ctx, 8); err != nil || ok {
				t.Errorf("issue 8's plan = %+v, %v, %v; want none", other, ok, err)
			}
			for _, in := range api.gets {
				if aws.ToString(in.TableName) != "ledger" || !aws.ToBool(in.ConsistentRead) {
					t.Errorf("GetItem on %q consistent=%v, want a consistent read of the ledger", aws.ToString(in.TableName), aws.ToBool(in.ConsistentRead))
				}
			}
		})
	}
}

// TestPlansItem checks the stored item's shape: the ledger's key schema
// with sort key "plan", and none of the attributes the ledger's readers
// count (state, claim, pending), so the plan is never counted as a
// recipient or a batch.
func TestPlansItem(t *testing.T) {
	api := &fakePlansAPI{items: map[string]map[string]types.AttributeValue{}}
	if err := NewPlans(api, "ledger").SavePlan(context.Background(), 7, testPlan("", 0, 0, "a")); err != nil {
		t.Fatal(err)
	}
	in := api.puts[0]
	if aws.ToString(in.TableName) != "ledger" {
		t.Errorf("PutItem on table %q, want ledger", aws.ToString(in.TableName))
	}
	var names []string
	for k := range in.Item {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{"issue", "listed", "page", "plan", "recipient"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("item attributes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"issue": "7", "recipient": PlanRecipient, "page": "0/"}, map[string]string{
		"issue":     in.Item["issue"].(*types.AttributeValueMemberN).Value,
		"recipient": in.Item["recipient"].(*types.AttributeValueMemberS).Value,
		"page":      in.Item["page"].(*types.AttributeValueMemberS).Value,
	}); diff != "" {
		t.Errorf("item key and page (-want +got):\n%s", diff)
	}
}

func TestPlansErrors(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}
	tests := []struct {
		name     string
		api      *fakePlansAPI
		save     bool
		wantKind gazette.Kind
	}{
		{name: "save throttled", api: &fakePlansAPI{err: throttled}, save: true, wantKind: gazette.KindThrottled},
		{name: "load throttled", api: &fakePlansAPI{err: throttled}, wantKind: gazette.KindThrottled},
		{
			name: "load of an item without a plan body",
			api: &fakePlansAPI{items: map[string]map[string]types.AttributeValue{
				"7|plan": {"plan": &types.AttributeValueMemberN{Value: "1"}},
			}},
			wantKind: gazette.KindPermanent,
		},
		{
			name: "load of a plan that is not JSON",
			api: &fakePlansAPI{items: map[string]map[string]types.AttributeValue{
				"7|plan": {"plan": &types.AttributeValueMemberS{Value: "{"}},
			}},
			wantKind: gazette.KindPermanent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewPlans(tt.api, "ledger")
			var err error
			if tt.save {
				err = s.SavePlan(context.Background(), 7, testPlan("", 0, 0, "a"))
			} else {
				_, _, err = s.LoadPlan(context.Background(), 7)
			}
			if err == nil || gazette.KindOf(err) != tt.wantKind {
				t.Fatalf("error = %v (kind %v), want kind %v", err, gazette.KindOf(err), tt.wantKind)
			}
			if tt.api.err != nil && !errors.Is(err, tt.api.err) {
				t.Errorf("error %v does not wrap DynamoDB's", err)
			}
		})
	}
}
