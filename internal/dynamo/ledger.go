package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/gazette"
)

// LedgerAPI is the part of the DynamoDB client Ledger uses.
type LedgerAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Ledger states as stored in the `state` attribute.
const (
	ledgerClaimed = "claimed"
	ledgerRetry   = "retry"
	ledgerSent    = "sent"
	ledgerFailed  = "failed"
)

// Ledger is the delivery ledger: one item per (issue, recipient) with a
// state (claimed, retry, sent, failed), the claim's lease, the number of
// attempts and SES's message ID. It implements delivery.Ledger.
type Ledger struct {
	api   LedgerAPI
	table string
}

// NewLedger returns the ledger table named table.
func NewLedger(api LedgerAPI, table string) *Ledger { return &Ledger{api: api, table: table} }

// Claim takes the recipient for this invocation if nobody has: no record,
// a released one, or a claim whose lease ran out (its holder died).
func (l *Ledger) Claim(ctx context.Context, issue int, recipient string, now time.Time, lease time.Duration) (delivery.ClaimState, error) {
	_, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key:       ledgerKey(issue, recipient),
		UpdateExpression: aws.String("SET #s = :claimed, leaseUntil = :until, claimedAt = :now " +
			"ADD attempts :one"),
		ConditionExpression:      aws.String("attribute_not_exists(#s) OR #s = :retry OR (#s = :claimed AND leaseUntil < :now)"),
		ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":claimed": &types.AttributeValueMemberS{Value: ledgerClaimed},
			":retry":   &types.AttributeValueMemberS{Value: ledgerRetry},
			":until":   unixMillis(now.Add(lease)),
			":now":     unixMillis(now),
			":one":     &types.AttributeValueMemberN{Value: "1"},
		},
	})
	err = classify(fmt.Sprintf("claim issue %d recipient %s", issue, recipient), err)
	if gazette.KindOf(err) != gazette.KindConflict {
		return delivery.Claimed, err
	}
	out, err := l.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(l.table), Key: ledgerKey(issue, recipient), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, classify(fmt.Sprintf("read ledger issue %d recipient %s", issue, recipient), err)
	}
	state, _ := out.Item["state"].(*types.AttributeValueMemberS)
	switch {
	case state == nil:
		return 0, fmt.Errorf("ledger issue %d recipient %s: claim refused but no state", issue, recipient)
	case state.Value == ledgerSent:
		return delivery.Sent, nil
	case state.Value == ledgerFailed:
		return delivery.Failed, nil
	}
	return delivery.InFlight, nil
}

// MarkSent records SES's acceptance of the message.
func (l *Ledger) MarkSent(ctx context.Context, issue int, recipient, messageID string, at time.Time) error {
	return l.set(ctx, issue, recipient, ledgerSent, map[string]types.AttributeValue{
		"messageId": &types.AttributeValueMemberS{Value: messageID},
		"sentAt":    &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
	})
}

// Release gives the recipient back for a later attempt.
func (l *Ledger) Release(ctx context.Context, issue int, recipient, reason string) error {
	return l.set(ctx, issue, recipient, ledgerRetry, map[string]types.AttributeValue{
		"lastError": &types.AttributeValueMemberS{Value: reason},
	})
}

// MarkFailed records a permanent failure; the recipient is not retried.
func (l *Ledger) MarkFailed(ctx context.Context, issue int, recipient, reason string) error {
	return l.set(ctx, issue, recipient, ledgerFailed, map[string]types.AttributeValue{
		"lastError": &types.AttributeValueMemberS{Value: reason},
	})
}

func (l *Ledger) set(ctx context.Context, issue int, recipient, state string, attrs map[string]types.AttributeValue) error {
	expr := "SET #s = :state"
	names := map[string]string{"#s": "state"}
	values := map[string]types.AttributeValue{":state": &types.AttributeValueMemberS{Value: state}}
	i := 0
	for k, v := range attrs {
		nk, vk := "#a"+strconv.Itoa(i), ":a"+strconv.Itoa(i)
		expr += ", " + nk + " = " + vk
		names[nk], values[vk] = k, v
		i++
	}
	_, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table), Key: ledgerKey(issue, recipient),
		UpdateExpression: aws.String(expr), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	return classify(fmt.Sprintf("ledger issue %d recipient %s: %s", issue, recipient, state), err)
}

func ledgerKey(issue int, recipient string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"issue":     number(issue),
		"recipient": &types.AttributeValueMemberS{Value: recipient},
	}
}

func unixMillis(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}
