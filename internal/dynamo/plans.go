package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/gazette"
)

// PlansAPI is the part of the DynamoDB client Plans uses.
type PlansAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// PlanRecipient is the ledger sort key of an issue's plan item. Batch items
// are keyed "batch#<n>" and LedgerCounts reads only those, so the plan item
// is never counted as a batch.
const PlanRecipient = "plan"

// The plan item's attributes.
const (
	planBody   = "plan"   // the gazette.SendPlan as JSON
	planPage   = "page"   // "<firstBatch>/<cursor>": which page it is
	planListed = "listed" // subscribers listed before the page: orders pages
)

// Plans keeps publish's write-ahead plans (publish.Plans) in the ledger
// table: one item per issue, sort key "plan", holding the latest page's
// batches as JSON. A page of 500 recipients is about 75 KB, well under
// DynamoDB's 400 KB item limit. It lives in the ledger table because it
// belongs to the issue's delivery and so that publishing needs no table of
// its own; it is overwritten page by page and not deleted, so at most one
// item per issue remains.
type Plans struct {
	api   PlansAPI
	table string
}

// NewPlans returns the plans kept in the ledger table named table.
func NewPlans(api PlansAPI, table string) *Plans { return &Plans{api: api, table: table} }

// SavePlan writes p with one conditional PutItem: it replaces the plan of an
// earlier page, and is refused (gazette.KindConflict) when the plan stored
// is of the same page or of a later one, which another run saved first.
func (s *Plans) SavePlan(ctx context.Context, issue int, p gazette.SendPlan) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode plan of issue %d: %w", issue, err)
	}
	item := ledgerKey(issue, PlanRecipient)
	item[planBody] = &types.AttributeValueMemberS{Value: string(body)}
	item[planPage] = &types.AttributeValueMemberS{Value: pageOf(p)}
	item[planListed] = number(p.Listed)
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#p) OR (#p <> :p AND #l <= :l)"),
		ExpressionAttributeNames: map[string]string{"#p": planPage, "#l": planListed},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": item[planPage],
			":l": item[planListed],
		},
	})
	return classify(fmt.Sprintf("save plan of issue %d page %s", issue, pageOf(p)), err)
}

// LoadPlan reads the issue's plan with a consistent GetItem: the plan saved
// just before a crash must be the one found.
func (s *Plans) LoadPlan(ctx context.Context, issue int) (gazette.SendPlan, bool, error) {
	var p gazette.SendPlan
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.table),
		Key:                      ledgerKey(issue, PlanRecipient),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#b"),
		ExpressionAttributeNames: map[string]string{"#b": planBody},
	})
	if err != nil {
		return p, false, classify(fmt.Sprintf("load plan of issue %d", issue), err)
	}
	if out.Item == nil {
		return p, false, nil
	}
	body, ok := out.Item[planBody].(*types.AttributeValueMemberS)
	if !ok {
		return p, false, gazette.Errorf(gazette.KindPermanent, "bad_plan", "plan of issue %d: no %s string attribute", issue, planBody)
	}
	if err := json.Unmarshal([]byte(body.Value), &p); err != nil {
		return p, false, gazette.Wrap(gazette.KindPermanent, "bad_plan", fmt.Errorf("decode plan of issue %d: %w", issue, err))
	}
	return p, true, nil
}

// pageOf names the page a plan is of: its first batch number and cursor
// (the first page's cursor is empty; the prefix keeps the value non-empty).
func pageOf(p gazette.SendPlan) string {
	return strconv.Itoa(p.FirstBatch) + "/" + p.Cursor
}
