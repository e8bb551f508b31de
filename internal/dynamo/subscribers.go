package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// SubscribersAPI is the part of the DynamoDB client Subscribers uses.
// The subscription API and ses-feedback need GetItem, PutItem and
// UpdateItem (the suppression log), publish-digest only Query, a sender
// reading the suppression log only BatchGetItem; the operator CLI uses
// the rest.
type SubscribersAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// SubscribersByStatus is the subscribers table's GSI keyed by status and
// id; it projects email, name and topics, all that a send batch needs.
const SubscribersByStatus = "byStatus"

// Condition expressions of Save: the optimistic lock on "version". Names
// go through placeholders so that no attribute can clash with DynamoDB's
// reserved words.
const (
	subCondNew     = "attribute_not_exists(#id)"
	subCondVersion = "#v = :v"
	batchGetMax    = 100 // keys per BatchGetItem call, DynamoDB's limit
)

// Subscribers keeps subscriber records in the subscribers table, one item
// per address keyed by gazette.SubscriberID. Every write is a whole-item
// PutItem guarded by the item's version, so read-modify-write cycles from
// concurrent requests (a double click, SES feedback racing an unsubscribe)
// never lose a transition.
//
// Every write that takes a subscriber out of confirmed status also adds
// them to the suppression log (see SuppressedSince).
type Subscribers struct {
	// Logger gets a warning when a departure could not be added to the
	// suppression log, which does not fail the write (see noteDepartures).
	// Nil means slog.Default(), the process's JSON logger once
	// logging.New has run.
	Logger *slog.Logger

	api   SubscribersAPI
	table string
	// sleep waits between batch retries; replaced in tests.
	sleep func(context.Context, time.Duration) error
	// now is the clock of the suppression log's hours; replaced in tests.
	now func() time.Time
}

// NewSubscribers returns the store over the table named table.
func NewSubscribers(api SubscribersAPI, table string) *Subscribers {
	return &Subscribers{api: api, table: table, sleep: delivery.RealClock{}.Sleep, now: time.Now}
}

// subscriberItem is the item layout. Times are RFC 3339 strings (readable
// in the console, sortable) except expiresAt, which DynamoDB's TTL wants
// as epoch seconds. Empty attributes are left out: DynamoDB refuses empty
// sets and empty GSI key strings.
type subscriberItem struct {
	ID          string                  `dynamodbav:"id"`
	Email       string                  `dynamodbav:"email,omitempty"`
	Name        string                  `dynamodbav:"name,omitempty"`
	Topics      []string                `dynamodbav:"topics,omitempty"`
	Status      string                  `dynamodbav:"status"`
	Reason      string                  `dynamodbav:"reason,omitempty"`
	CreatedAt   string                  `dynamodbav:"createdAt,omitempty"`
	UpdatedAt   string                  `dynamodbav:"updatedAt,omitempty"`
	ConfirmedAt string                  `dynamodbav:"confirmedAt,omitempty"`
	LastMailAt  string                  `dynamodbav:"lastMailAt,omitempty"`
	OptInAt     string                  `dynamodbav:"optInAt,omitempty"`
	ExpiresAt   int64                   `dynamodbav:"expiresAt,omitempty"`
	History     []subscriberHistoryItem `dynamodbav:"history,omitempty"`
	Version     int64                   `dynamodbav:"version"`
}

type subscriberHistoryItem struct {
	At   string `dynamodbav:"at"`
	From string `dynamodbav:"from,omitempty"`
	To   string `dynamodbav:"to"`
	Why  string `dynamodbav:"why,omitempty"`
}

func subTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func subParseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// A hand-edited item should not make the whole record unreadable.
		return time.Time{}
	}
	return t
}

func subToItem(r subscription.Record) subscriberItem {
	it := subscriberItem{
		ID: r.ID, Email: r.Email, Name: r.Name, Topics: r.Topics,
		Status: string(r.Status), Reason: r.Reason,
		CreatedAt: subTime(r.CreatedAt), UpdatedAt: subTime(r.UpdatedAt), ConfirmedAt: subTime(r.ConfirmedAt),
		LastMailAt: subTime(r.LastMailAt), OptInAt: subTime(r.OptInAt),
		Version: r.Version,
	}
	if !r.ExpiresAt.IsZero() {
		it.ExpiresAt = r.ExpiresAt.Unix()
	}
	for _, h := range r.History {
		it.History = append(it.History, subscriberHistoryItem{At: subTime(h.At), From: string(h.From), To: string(h.To), Why: h.Why})
	}
	return it
}

func subFromItem(it subscriberItem) subscription.Record {
	r := subscription.Record{
		Subscriber: gazette.Subscriber{
			ID: it.ID, Email: it.Email, Name: it.Name, Topics: it.Topics,
			Status: gazette.SubscriberStatus(it.Status), Reason: it.Reason,
			CreatedAt: subParseTime(it.CreatedAt), UpdatedAt: subParseTime(it.UpdatedAt),
			ConfirmedAt: subParseTime(it.ConfirmedAt),
		},
		LastMailAt: subParseTime(it.LastMailAt),
		OptInAt:    subParseTime(it.OptInAt),
		Version:    it.Version,
	}
	if it.ExpiresAt != 0 {
		r.ExpiresAt = time.Unix(it.ExpiresAt, 0).UTC()
	}
	for _, h := range it.History {
		r.History = append(r.History, subscription.Transition{
			At: subParseTime(h.At), From: gazette.SubscriberStatus(h.From), To: gazette.SubscriberStatus(h.To), Why: h.Why,
		})
	}
	return r
}

func subKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
}

// Get returns the subscriber with this ID, or an error of kind
// gazette.KindNotFound.
func (s *Subscribers) Get(ctx context.Context, id string) (gazette.Subscriber, error) {
	r, err := s.Load(ctx, id)
	return r.Subscriber, err
}

// Load returns the whole record with this ID (strongly consistent), or an
// error of kind gazette.KindNotFound. It implements subscription.Store.
func (s *Subscribers) Load(ctx context.Context, id string) (subscription.Record, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            subKey(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return subscription.Record{}, classify("get subscriber "+id, err)
	}
	if len(out.Item) == 0 {
		return subscription.Record{}, gazette.Errorf(gazette.KindNotFound, "subscriber_not_found", "subscriber %s not found", id)
	}
	return subDecode(out.Item)
}

func subDecode(av map[string]types.AttributeValue) (subscription.Record, error) {
	var it subscriberItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return subscription.Record{}, fmt.Errorf("decode subscriber: %w", gazette.Wrap(gazette.KindPermanent, "bad_item", err))
	}
	return subFromItem(it), nil
}

// Save writes r as a whole if the stored item still has version prev
// (prev 0: no item yet), and writes it with version prev+1. A lost race is
// an error of kind gazette.KindConflict. It implements subscription.Store.
// A record that this save moves from confirmed to unsubscribed, bounced or
// complained is then added to the suppression log, best effort.
func (s *Subscribers) Save(ctx context.Context, r subscription.Record, prev int64) error {
	if r.ID == "" || r.Status == "" {
		return gazette.Errorf(gazette.KindInvalid, "incomplete", "subscriber record needs an id and a status")
	}
	r.Version = prev + 1
	av, err := attributevalue.MarshalMap(subToItem(r))
	if err != nil {
		return fmt.Errorf("encode subscriber %s: %w", r.ID, err)
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: av}
	if prev == 0 {
		in.ConditionExpression = aws.String(subCondNew)
		in.ExpressionAttributeNames = map[string]string{"#id": "id"}
	} else {
		in.ConditionExpression = aws.String(subCondVersion)
		in.ExpressionAttributeNames = map[string]string{"#v": "version"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":v": &types.AttributeValueMemberN{Value: fmt.Sprint(prev)},
		}
	}
	if _, err := s.api.PutItem(ctx, in); err != nil {
		return classify("save subscriber "+r.ID, err)
	}
	s.noteDepartures(ctx, r)
	return nil
}

// ListConfirmed returns up to limit confirmed subscribers (ID, email, name
// and topics only), in ID order, from the byStatus index, and the cursor
// of the next page: pass "" to start, stop when it returns "". A page may
// hold fewer than limit subscribers and still have a next one.
func (s *Subscribers) ListConfirmed(ctx context.Context, cursor string, limit int) ([]gazette.Subscriber, string, error) {
	if limit <= 0 {
		limit = 1000
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(SubscribersByStatus),
		KeyConditionExpression: aws.String("#s = :s"),
		ExpressionAttributeNames: map[string]string{
			"#s": "status",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberS{Value: string(gazette.SubscriberConfirmed)},
		},
		Limit: aws.Int32(int32(min(limit, 1<<30))),
	}
	if cursor != "" {
		id, err := subDecodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			"id":     &types.AttributeValueMemberS{Value: id},
			"status": &types.AttributeValueMemberS{Value: string(gazette.SubscriberConfirmed)},
		}
	}
	out, err := s.api.Query(ctx, in)
	if err != nil {
		return nil, "", classify("list confirmed subscribers", err)
	}
	subs := make([]gazette.Subscriber, 0, len(out.Items))
	for _, av := range out.Items {
		r, err := subDecode(av)
		if err != nil {
			return nil, "", err
		}
		subs = append(subs, r.Subscriber)
	}
	next := ""
	if id, ok := out.LastEvaluatedKey["id"].(*types.AttributeValueMemberS); ok && id.Value != "" {
		next = base64.RawURLEncoding.EncodeToString([]byte(id.Value))
	}
	return subs, next, nil
}

// subDecodeCursor checks that a cursor is one ListConfirmed made: the
// base64url of a subscriber ID.
func subDecodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if _, herr := hex.DecodeString(string(b)); herr != nil || len(b) != 32 {
			err = fmt.Errorf("not a subscriber ID")
		}
	}
	if err != nil {
		return "", gazette.Wrap(gazette.KindInvalid, "bad_cursor", fmt.Errorf("subscriber cursor %q: %w", c, err))
	}
	return string(b), nil
}

// Suppress marks a subscriber bounced or complained, with why and when, so
// that no issue goes to the address again until its owner opts in anew
// through a confirmation link. It is idempotent (SES may report an address
// twice) and creates a bare record, the ID alone, when the subscriber is
// unknown, so that the suppression holds should the address be imported
// later.
func (s *Subscribers) Suppress(ctx context.Context, id string, status gazette.SubscriberStatus, reason string, at time.Time) error {
	if status != gazette.SubscriberBounced && status != gazette.SubscriberComplained {
		return gazette.Errorf(gazette.KindInvalid, "bad_status", "suppress: status %q is not bounced or complained", status)
	}
	return s.change(ctx, id, func(r *subscription.Record) bool {
		if r.Status == status && r.OptInAt.IsZero() {
			return false
		}
		r.Move(status, reason, at)
		// A suppression lives until a fresh opt-in: never let TTL take it,
		// and a bounce during a pending re-opt-in cancels that opt-in.
		r.ExpiresAt, r.OptInAt = time.Time{}, time.Time{}
		return true
	})
}

// Forget erases a person's data, as the GDPR's right to erasure asks: the
// address, name, topics and mail times go; what stays under the ID (a hash
// of the address) is a suppression with its history, so that the address
// is neither mailed nor re-imported by mistake. It is idempotent and
// succeeds for unknown IDs by recording the suppression.
func (s *Subscribers) Forget(ctx context.Context, id string, at time.Time) error {
	return s.change(ctx, id, func(r *subscription.Record) bool {
		if r.Email == "" && r.Name == "" && len(r.Topics) == 0 && subscription.Suppressed(r.Status) && r.Reason == subscription.WhyForget {
			return false
		}
		if !subscription.Suppressed(r.Status) {
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyForget, at)
		} else {
			// Keep bounced/complained as they are: they say more.
			r.History = append(r.History, subscription.Transition{At: at, From: r.Status, To: r.Status, Why: subscription.WhyForget})
			r.Reason, r.UpdatedAt = subscription.WhyForget, at
		}
		r.Email, r.Name, r.Topics = "", "", nil
		r.CreatedAt, r.ConfirmedAt = time.Time{}, time.Time{}
		r.LastMailAt, r.OptInAt, r.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
		return true
	})
}

// change is the read-modify-write loop behind Suppress and Forget.
func (s *Subscribers) change(ctx context.Context, id string, fn func(r *subscription.Record) bool) error {
	for range 5 {
		r, err := s.Load(ctx, id)
		if gazette.KindOf(err) == gazette.KindNotFound {
			r, err = subscription.Record{Subscriber: gazette.Subscriber{ID: id}}, nil
		}
		if err != nil {
			return err
		}
		prev := r.Version
		if !fn(&r) {
			return nil
		}
		err = s.Save(ctx, r, prev)
		if gazette.KindOf(err) == gazette.KindConflict {
			continue
		}
		return err
	}
	return gazette.Errorf(gazette.KindThrottled, "busy", "subscriber %s: too many concurrent changes", id)
}

// LoadMany returns the records of the given IDs that exist, keyed by ID,
// with BatchGetItem (100 keys a call) and retries of unprocessed keys.
func (s *Subscribers) LoadMany(ctx context.Context, ids []string) (map[string]subscription.Record, error) {
	found := make(map[string]subscription.Record, len(ids))
	err := s.batchGet(ctx, "batch get subscribers", ids, types.KeysAndAttributes{ConsistentRead: aws.Bool(true)},
		func(av map[string]types.AttributeValue) error {
			r, err := subDecode(av)
			if err != nil {
				return err
			}
			found[r.ID] = r
			return nil
		})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// batchGet reads the items of ids with BatchGetItem, batchGetMax keys a
// call, each call shaped by ka (projection, consistency; its Keys are set
// here), retrying unprocessed keys with backoff, and hands each item to
// each.
func (s *Subscribers) batchGet(ctx context.Context, op string, ids []string, ka types.KeysAndAttributes,
	each func(map[string]types.AttributeValue) error) error {
	for start := 0; start < len(ids); start += batchGetMax {
		ka.Keys = make([]map[string]types.AttributeValue, 0, batchGetMax)
		for _, id := range ids[start:min(start+batchGetMax, len(ids))] {
			ka.Keys = append(ka.Keys, subKey(id))
		}
		req := map[string]types.KeysAndAttributes{s.table: ka}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if err := s.backoff(ctx, attempt); err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
			}
			out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return classify(op, err)
			}
			for _, av := range out.Responses[s.table] {
				if err := each(av); err != nil {
					return err
				}
			}
			req = out.UnprocessedKeys
		}
	}
	return nil
}

// PutMany writes records unconditionally with BatchWriteItem (25 items a
// call), retrying unprocessed items with backoff. It is for the operator's
// import, which reads the existing records first (LoadMany) and must not
// be run next to live sign-ups of the same addresses: there is no version
// check here. Records it moves out of confirmed status are added to the
// suppression log once their chunk is written, best effort.
func (s *Subscribers) PutMany(ctx context.Context, rs []subscription.Record) error {
	for start := 0; start < len(rs); start += 25 {
		reqs := make([]types.WriteRequest, 0, 25)
		for _, r := range rs[start:min(start+25, len(rs))] {
			r.Version++
			av, err := attributevalue.MarshalMap(subToItem(r))
			if err != nil {
				return fmt.Errorf("encode subscriber %s: %w", r.ID, err)
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		}
		req := map[string][]types.WriteRequest{s.table: reqs}
		for attempt := 0; len(req[s.table]) > 0; attempt++ {
			if attempt > 0 {
				if err := s.backoff(ctx, attempt); err != nil {
					return err
				}
			}
			out, err := s.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
			if err != nil {
				return classify("batch write subscribers", err)
			}
			req = out.UnprocessedItems
		}
		s.noteDepartures(ctx, rs[start:min(start+25, len(rs))]...)
	}
	return nil
}

// subMaxBatchAttempts bounds retries of unprocessed batch items: DynamoDB
// returns them under throttling, which backoff outlasts in practice.
const subMaxBatchAttempts = 10

func (s *Subscribers) backoff(ctx context.Context, attempt int) error {
	if attempt >= subMaxBatchAttempts {
		return gazette.Errorf(gazette.KindThrottled, "unprocessed", "DynamoDB left items unprocessed after %d attempts", attempt)
	}
	d := min(50*time.Millisecond<<attempt, 5*time.Second)
	return s.sleep(ctx, d)
}

// Each calls fn with every record in the table (Scan, paged), in no
// particular order, stopping at fn's first error. The suppression log's
// items are skipped: they are not subscribers.
func (s *Subscribers) Each(ctx context.Context, fn func(subscription.Record) error) error {
	var start map[string]types.AttributeValue
	for {
		out, err := s.api.Scan(ctx, &dynamodb.ScanInput{
			TableName:         aws.String(s.table),
			ExclusiveStartKey: start,
			ConsistentRead:    aws.Bool(true),
		})
		if err != nil {
			return classify("scan subscribers", err)
		}
		for _, av := range out.Items {
			if id, ok := av["id"].(*types.AttributeValueMemberS); ok && isSuppressionItem(id.Value) {
				continue
			}
			r, err := subDecode(av)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}
