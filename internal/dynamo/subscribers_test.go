package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// fakeSubscribersAPI is an in-memory subscribers table that understands the
// few expressions Subscribers sends, and fails the test on any other.
type fakeSubscribersAPI struct {
	t     *testing.T
	mu    sync.Mutex
	items map[string]map[string]types.AttributeValue
	// unprocessed is how many batch calls leave their last request unprocessed.
	unprocessed int
	scanPage    int
	calls       map[string]int
	// updateErr, when set, fails every UpdateItem (the suppression log).
	updateErr error
}

func newFakeSubscribersAPI(t *testing.T) *fakeSubscribersAPI {
	return &fakeSubscribersAPI{t: t, items: map[string]map[string]types.AttributeValue{}, calls: map[string]int{}, scanPage: 2}
}

func (f *fakeSubscribersAPI) id(key map[string]types.AttributeValue) string {
	s, ok := key["id"].(*types.AttributeValueMemberS)
	if !ok {
		f.t.Fatalf("key without string id: %#v", key)
	}
	return s.Value
}

func (f *fakeSubscribersAPI) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["GetItem"]++
	return &dynamodb.GetItemOutput{Item: f.items[f.id(in.Key)]}, nil
}

func (f *fakeSubscribersAPI) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["PutItem"]++
	id := f.id(in.Item)
	old, exists := f.items[id]
	switch cond := aws.ToString(in.ConditionExpression); cond {
	case subCondNew:
		if in.ExpressionAttributeNames["#id"] != "id" {
			f.t.Fatalf("condition names %v", in.ExpressionAttributeNames)
		}
		if exists {
			return nil, &types.ConditionalCheckFailedException{Message: aws.String("exists")}
		}
	case subCondVersion:
		if in.ExpressionAttributeNames["#v"] != "version" {
			f.t.Fatalf("condition names %v", in.ExpressionAttributeNames)
		}
		want := in.ExpressionAttributeValues[":v"].(*types.AttributeValueMemberN).Value
		got, _ := old["version"].(*types.AttributeValueMemberN)
		if !exists || got == nil || got.Value != want {
			return nil, &types.ConditionalCheckFailedException{Message: aws.String("version")}
		}
	default:
		f.t.Fatalf("unexpected condition %q", cond)
	}
	f.items[id] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeSubscribersAPI) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Query"]++
	if aws.ToString(in.IndexName) != SubscribersByStatus || aws.ToString(in.KeyConditionExpression) != "#s = :s" || in.ExpressionAttributeNames["#s"] != "status" {
		f.t.Fatalf("unexpected query %+v", in)
	}
	status := in.ExpressionAttributeValues[":s"].(*types.AttributeValueMemberS).Value
	after := ""
	if in.ExclusiveStartKey != nil {
		after = f.id(in.ExclusiveStartKey)
		if in.ExclusiveStartKey["status"].(*types.AttributeValueMemberS).Value != status {
			return nil, fmt.Errorf("ValidationException: start key of another status")
		}
	}
	var ids []string
	for id, it := range f.items {
		if s, _ := it["status"].(*types.AttributeValueMemberS); s != nil && s.Value == status && id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := &dynamodb.QueryOutput{}
	for i, id := range ids {
		if in.Limit != nil && i == int(*in.Limit) {
			break
		}
		// Projection INCLUDE email, name, topics (plus the keys).
		p := map[string]types.AttributeValue{}
		for _, a := range []string{"id", "status", "email", "name", "topics"} {
			if v, ok := f.items[id][a]; ok {
				p[a] = v
			}
		}
		out.Items = append(out.Items, p)
		if in.Limit != nil && i+1 == int(*in.Limit) {
			out.LastEvaluatedKey = map[string]types.AttributeValue{"id": p["id"], "status": p["status"]}
		}
	}
	return out, nil
}

func (f *fakeSubscribersAPI) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["Scan"]++
	var ids []string
	after := ""
	if in.ExclusiveStartKey != nil {
		after = f.id(in.ExclusiveStartKey)
	}
	for id := range f.items {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := &dynamodb.ScanOutput{}
	for i, id := range ids {
		if i == f.scanPage {
			out.LastEvaluatedKey = subKey(ids[i-1])
			break
		}
		out.Items = append(out.Items, f.items[id])
	}
	return out, nil
}

func (f *fakeSubscribersAPI) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["BatchGetItem"]++
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	for table, ka := range in.RequestItems {
		if len(ka.Keys) > 100 {
			f.t.Fatalf("BatchGetItem with %d keys", len(ka.Keys))
		}
		keys := ka.Keys
		if f.unprocessed > 0 && len(keys) > 0 {
			f.unprocessed--
			// DynamoDB hands back the request as it was, projection and all.
			left := ka
			left.Keys = keys[len(keys)-1:]
			out.UnprocessedKeys = map[string]types.KeysAndAttributes{table: left}
			keys = keys[:len(keys)-1]
		}
		for _, k := range keys {
			if it, ok := f.items[f.id(k)]; ok {
				out.Responses[table] = append(out.Responses[table], f.project(it, ka.ProjectionExpression, ka.ExpressionAttributeNames))
			}
		}
	}
	return out, nil
}

func (f *fakeSubscribersAPI) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["BatchWriteItem"]++
	out := &dynamodb.BatchWriteItemOutput{}
	for table, reqs := range in.RequestItems {
		if len(reqs) > 25 {
			f.t.Fatalf("BatchWriteItem with %d requests", len(reqs))
		}
		if f.unprocessed > 0 && len(reqs) > 0 {
			f.unprocessed--
			out.UnprocessedItems = map[string][]types.WriteRequest{table: reqs[len(reqs)-1:]}
			reqs = reqs[:len(reqs)-1]
		}
		for _, r := range reqs {
			f.items[f.id(r.PutRequest.Item)] = r.PutRequest.Item
		}
	}
	return out, nil
}

// project keeps the attributes a projection expression of plain names and
// #placeholders lists (all of them without one).
func (f *fakeSubscribersAPI) project(it map[string]types.AttributeValue, expr *string, names map[string]string) map[string]types.AttributeValue {
	if expr == nil {
		return it
	}
	p := map[string]types.AttributeValue{}
	for _, a := range strings.Split(*expr, ",") {
		a = strings.TrimSpace(a)
		if strings.HasPrefix(a, "#") {
			n, ok := names[a]
			if !ok {
				f.t.Fatalf("projection %q: no name for %s", *expr, a)
			}
			a = n
		}
		if v, ok := it[a]; ok {
			p[a] = v
		}
	}
	return p
}

// UpdateItem understands the suppression log's update alone: ADD to the
// "ids" string set and SET of "expiresAt", creating the item if need be.
func (f *fakeSubscribersAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["UpdateItem"]++
	if aws.ToString(in.UpdateExpression) != suppressionUpdate || in.ExpressionAttributeNames["#ids"] != "ids" ||
		in.ExpressionAttributeNames["#exp"] != "expiresAt" || in.ConditionExpression != nil {
		f.t.Fatalf("unexpected update %+v", in)
	}
	if f.updateErr != nil {
		return nil, f.updateErr
	}
	add, ok := in.ExpressionAttributeValues[":ids"].(*types.AttributeValueMemberSS)
	if !ok || len(add.Value) == 0 {
		return nil, fmt.Errorf("ValidationException: ADD needs a non-empty set, got %#v", in.ExpressionAttributeValues[":ids"])
	}
	exp, ok := in.ExpressionAttributeValues[":exp"].(*types.AttributeValueMemberN)
	if !ok {
		f.t.Fatalf(":exp is %#v, want a number", in.ExpressionAttributeValues[":exp"])
	}
	id := f.id(in.Key)
	it := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
	for k, v := range f.items[id] {
		it[k] = v
	}
	set := map[string]bool{}
	if old, ok := it["ids"].(*types.AttributeValueMemberSS); ok {
		for _, v := range old.Value {
			set[v] = true
		}
	}
	for _, v := range add.Value {
		set[v] = true
	}
	ids := make([]string, 0, len(set))
	for v := range set {
		ids = append(ids, v)
	}
	sort.Strings(ids)
	it["ids"] = &types.AttributeValueMemberSS{Value: ids}
	it["expiresAt"] = exp
	f.items[id] = it
	return &dynamodb.UpdateItemOutput{}, nil
}

var (
	subT0    = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	subAnnID = gazette.SubscriberID("ann@example.com")
)

func newTestSubscribers(t *testing.T) (*Subscribers, *fakeSubscribersAPI) {
	f := newFakeSubscribersAPI(t)
	s := NewSubscribers(f, "subscribers")
	s.sleep = func(context.Context, time.Duration) error { return nil }
	s.now = func() time.Time { return subT0 }
	return s, f
}

func subPending(id, email string) subscription.Record {
	r := subscription.Record{Subscriber: gazette.Subscriber{ID: id, Email: email, Name: "Ann", Topics: []string{"science"}, CreatedAt: subT0}}
	r.Move(gazette.SubscriberPending, subscription.WhySignUp, subT0)
	r.LastMailAt = subT0
	r.ExpiresAt = subT0.Add(7 * 24 * time.Hour)
	return r
}

func TestSubscribersSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, f := newTestSubscribers(t)
	if _, err := s.Get(ctx, subAnnID); gazette.KindOf(err) != gazette.KindNotFound {
		t.Fatalf("Get(absent) error = %v, want not found", err)
	}
	r := subPending(subAnnID, "ann@example.com")
	if err := s.Save(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, subAnnID)
	if err != nil {
		t.Fatal(err)
	}
	r.Version = 1
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	if n := f.items[subAnnID]["expiresAt"].(*types.AttributeValueMemberN).Value; n != strconv.FormatInt(subT0.Add(7*24*time.Hour).Unix(), 10) {
		t.Errorf("expiresAt = %s, want epoch seconds", n)
	}
	sub, err := s.Get(ctx, subAnnID)
	if err != nil || sub.Email != "ann@example.com" || sub.Status != gazette.SubscriberPending {
		t.Errorf("Get() = %+v, %v", sub, err)
	}
}

func TestSubscribersSaveOptimisticLock(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestSubscribers(t)
	r := subPending(subAnnID, "ann@example.com")
	if err := s.Save(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, r, 0); gazette.KindOf(err) != gazette.KindConflict {
		t.Errorf("second create error = %v, want conflict", err)
	}
	if err := s.Save(ctx, r, 1); err != nil {
		t.Errorf("save at version 1: %v", err)
	}
	if err := s.Save(ctx, r, 1); gazette.KindOf(err) != gazette.KindConflict {
		t.Errorf("save at stale version error = %v, want conflict", err)
	}
	if err := s.Save(ctx, subscription.Record{}, 0); gazette.KindOf(err) != gazette.KindInvalid {
		t.Errorf("save of empty record error = %v, want invalid", err)
	}
}

func subConfirmed(i int) subscription.Record {
	email := fmt.Sprintf("reader%03d@example.com", i)
	r := subPending(gazette.SubscriberID(email), email)
	r.Move(gazette.SubscriberConfirmed, subscription.WhyConfirmLink, subT0)
	r.ExpiresAt = time.Time{}
	return r
}

func TestSubscribersListConfirmedPages(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestSubscribers(t)
	want := map[string]bool{}
	for i := range 7 {
		r := subConfirmed(i)
		if err := s.Save(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
		want[r.Email] = true
	}
	if err := s.Save(ctx, subPending(subAnnID, "ann@example.com"), 0); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	cursor, pages := "", 0
	for {
		subs, next, err := s.ListConfirmed(ctx, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, sub := range subs {
			if sub.Status != gazette.SubscriberConfirmed || sub.Name != "Ann" || len(sub.Topics) != 1 {
				t.Errorf("listed %+v", sub)
			}
			got[sub.Email] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListConfirmed() mismatch (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}
	if _, _, err := s.ListConfirmed(ctx, "not a cursor!", 3); gazette.KindOf(err) != gazette.KindInvalid {
		t.Errorf("bad cursor error = %v, want invalid", err)
	}
}

func TestSubscribersSuppress(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestSubscribers(t)
	r := subConfirmed(1)
	if err := s.Save(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	at := subT0.Add(time.Hour)
	for range 2 { // idempotent
		if err := s.Suppress(ctx, r.ID, gazette.SubscriberBounced, "hard bounce", at); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != gazette.SubscriberBounced || got.Reason != "hard bounce" || got.Version != 2 {
		t.Errorf("after Suppress: status %s reason %q version %d", got.Status, got.Reason, got.Version)
	}
	last := got.History[len(got.History)-1]
	if diff := cmp.Diff(subscription.Transition{At: at, From: gazette.SubscriberConfirmed, To: gazette.SubscriberBounced, Why: "hard bounce"}, last); diff != "" {
		t.Errorf("last transition (-want +got):\n%s", diff)
	}
	if err := s.Suppress(ctx, r.ID, gazette.SubscriberConfirmed, "", at); gazette.KindOf(err) != gazette.KindInvalid {
		t.Errorf("Suppress(confirmed) error = %v, want invalid", err)
	}

	// An unknown address is remembered as suppressed, by its hash alone.
	unknown := gazette.SubscriberID("nobody@example.com")
	if err := s.Suppress(ctx, unknown, gazette.SubscriberComplained, "complaint", at); err != nil {
		t.Fatal(err)
	}
	got, err = s.Load(ctx, unknown)
	if err != nil || got.Status != gazette.SubscriberComplained || got.Email != "" || !got.ExpiresAt.IsZero() {
		t.Errorf("unknown suppressed: %+v, %v", got, err)
	}
}

func TestSubscribersHistoryCapped(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestSubscribers(t)
	id := subAnnID
	for i := range 30 {
		st := gazette.SubscriberBounced
		if i%2 == 1 {
			st = gazette.SubscriberComplained
		}
		if err := s.Suppress(ctx, id, st, fmt.Sprint(i), subT0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History) != subscription.MaxHistory || got.History[len(got.History)-1].Why != "29" || got.History[0].Why != "10" {
		t.Errorf("history: %d entries, first %q, last %q", len(got.History), got.History[0].Why, got.History[len(got.History)-1].Why)
	}
}

func TestSubscribersForget(t *testing.T) {
	ctx := context.Background()
	s, f := newTestSubscribers(t)
	r := subConfirmed(2)
	if err := s.Save(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Forget(ctx, r.ID, subT0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	item := f.items[r.ID]
	for _, a := range []string{"email", "name", "topics", "createdAt", "confirmedAt", "lastMailAt"} {
		if _, ok := item[a]; ok {
			t.Errorf("forgotten item still has %s", a)
		}
	}
	got, _ := s.Load(ctx, r.ID)
	if got.Status != gazette.SubscriberUnsubscribed || got.Reason != subscription.WhyForget || got.Version != 2 {
		t.Errorf("forgotten record: %+v", got)
	}
}

func TestSubscribersBatch(t *testing.T) {
	ctx := context.Background()
	s, f := newTestSubscribers(t)
	var rs []subscription.Record
	var ids []string
	for i := range 260 {
		r := subConfirmed(i)
		rs = append(rs, r)
		ids = append(ids, r.ID)
	}
	f.unprocessed = 3
	if err := s.PutMany(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if len(f.items) != 260 {
		t.Fatalf("stored %d items, want 260", len(f.items))
	}
	f.unprocessed = 2
	got, err := s.LoadMany(ctx, append(ids, subAnnID))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 260 {
		t.Errorf("LoadMany found %d, want 260", len(got))
	}
	if got[ids[7]].Email != rs[7].Email || got[ids[7]].Version != 1 {
		t.Errorf("LoadMany record: %+v", got[ids[7]])
	}
	n := 0
	if err := s.Each(ctx, func(subscription.Record) error { n++; return nil }); err != nil || n != 260 {
		t.Errorf("Each saw %d records, err %v", n, err)
	}
	stop := errors.New("stop")
	if err := s.Each(ctx, func(subscription.Record) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Each error = %v, want fn's error", err)
	}

	// Items DynamoDB never processes end in a throttled error, not a loop.
	f.unprocessed = 1 << 30
	if err := s.PutMany(ctx, rs[:1]); gazette.KindOf(err) != gazette.KindThrottled {
		t.Errorf("PutMany with stuck items error = %v, want throttled", err)
	}
}
