package dynamo

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/gazette"
)

// IssuesAPI is the part of the DynamoDB client Issues uses.
type IssuesAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// counterNumber is the item that holds the number of the latest issue.
// Issue numbers start at 1, so 0 is free for it.
const counterNumber = 0

// Issues is the issues table: one item per issue number holding its
// publishing progress (gazette.IssueState) and delivery statistics, plus
// the counter item 0 whose `last` names the latest issue.
type Issues struct {
	api   IssuesAPI
	table string
}

// NewIssues returns the issues table named table.
func NewIssues(api IssuesAPI, table string) *Issues { return &Issues{api: api, table: table} }

// Latest returns the latest issue; ok is false before the first one.
func (s *Issues) Latest(ctx context.Context) (st gazette.IssueState, ok bool, err error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: numberKey(counterNumber), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return st, false, classify("read issue counter", err)
	}
	var counter struct {
		Last int `dynamodbav:"last"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &counter); err != nil {
		return st, false, fmt.Errorf("decode issue counter: %w", err)
	}
	if counter.Last == 0 {
		return st, false, nil
	}
	st, err = s.Get(ctx, counter.Last)
	return st, err == nil, err
}

// Get reads issue n; a missing one is gazette.KindNotFound.
func (s *Issues) Get(ctx context.Context, n int) (gazette.IssueState, error) {
	var st gazette.IssueState
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: numberKey(n), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return st, classify(fmt.Sprintf("get issue %d", n), err)
	}
	if out.Item == nil {
		return st, gazette.Errorf(gazette.KindNotFound, "no_issue", "issue %d not found", n)
	}
	if err := attributevalue.UnmarshalMapWithOptions(out.Item, &st, jsonTagsDecode); err != nil {
		return st, fmt.Errorf("decode issue %d: %w", n, err)
	}
	return st, nil
}

// Create stores a new issue and advances the counter to it. An existing
// issue of that number is a gazette.KindConflict error: another publish run
// got there first, and the caller resumes that issue instead.
func (s *Issues) Create(ctx context.Context, st gazette.IssueState) error {
	item, err := attributevalue.MarshalMapWithOptions(st, jsonTags)
	if err != nil {
		return fmt.Errorf("encode issue %d: %w", st.Number, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(#n)"),
		ExpressionAttributeNames: map[string]string{"#n": "number"},
	})
	if err = classify(fmt.Sprintf("create issue %d", st.Number), err); err != nil {
		if gazette.KindOf(err) == gazette.KindConflict {
			// Repair a counter that a crash left behind this issue.
			if cerr := s.advance(ctx, st.Number); cerr != nil {
				return cerr
			}
		}
		return err
	}
	// If we crash here the counter still names the previous issue; the next
	// run tries this number again, hits the conflict, repairs the counter and
	// resumes (or moves past) the issue.
	return s.advance(ctx, st.Number)
}

// advance moves the counter up to n; it never moves it down.
func (s *Issues) advance(ctx context.Context, n int) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       numberKey(counterNumber),
		UpdateExpression:          aws.String("SET #l = :n"),
		ConditionExpression:       aws.String("attribute_not_exists(#l) OR #l < :n"),
		ExpressionAttributeNames:  map[string]string{"#l": "last"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": number(n)},
	})
	if err = classify(fmt.Sprintf("advance issue counter to %d", n), err); gazette.KindOf(err) == gazette.KindConflict {
		return nil // a later issue exists already; nothing to advance
	}
	return err
}

// Save writes st's progress if nobody else advanced the issue since it was
// read with cursor prevCursor and prevBatches batches. A lost race is a
// gazette.KindConflict error: the other run carries on with the issue.
func (s *Issues) Save(ctx context.Context, st gazette.IssueState, prevCursor string, prevBatches int) error {
	item, err := attributevalue.MarshalMapWithOptions(st, jsonTags)
	if err != nil {
		return fmt.Errorf("encode issue %d: %w", st.Number, err)
	}
	delete(item, "number")
	set := "SET "
	names := map[string]string{"#b": "batches", "#c": "cursor"}
	values := map[string]types.AttributeValue{
		":prevBatches": number(prevBatches),
		":prevCursor":  &types.AttributeValueMemberS{Value: prevCursor},
	}
	i := 0
	for k, v := range item {
		if i > 0 {
			set += ", "
		}
		nk, vk := "#a"+strconv.Itoa(i), ":a"+strconv.Itoa(i)
		names[nk], values[vk] = k, v
		set += nk + " = " + vk
		i++
	}
	if st.Cursor == "" {
		set += " REMOVE #c" // the last page: no cursor left to resume from
	}
	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       numberKey(st.Number),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("#b = :prevBatches AND (#c = :prevCursor OR (attribute_not_exists(#c) AND :prevCursor = :empty))"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: withEmpty(values),
	})
	return classify(fmt.Sprintf("save issue %d", st.Number), err)
}

func withEmpty(v map[string]types.AttributeValue) map[string]types.AttributeValue {
	v[":empty"] = &types.AttributeValueMemberS{Value: ""}
	return v
}

func numberKey(n int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"number": number(n)}
}

func number(n int) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
}

// Count adds n to the issue's statistic counter (delivery, bounce,
// complaint, …), kept as the issue item's `stat_<counter>` attributes.
func (s *Issues) Count(ctx context.Context, issue int, counter string, n int) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              numberKey(issue),
		UpdateExpression: aws.String("ADD #c :n"),
		// Only existing issues: an event tagged with an unknown issue must
		// not create a stray item.
		ConditionExpression:       aws.String("attribute_exists(#num)"),
		ExpressionAttributeNames:  map[string]string{"#c": "stat_" + counter, "#num": "number"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": number(n)},
	})
	err = classify(fmt.Sprintf("count %s for issue %d", counter, issue), err)
	if gazette.KindOf(err) == gazette.KindConflict {
		return nil
	}
	return err
}
