package dynamo

import (
	"context"
	"errors"
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

// LedgerQueryAPI is the part of the DynamoDB client LedgerCounts uses.
type LedgerQueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// LedgerCounts counts issue's ledger items by state (claimed, retry, sent,
// failed, …), reading only the state attribute, page by page.
func LedgerCounts(ctx context.Context, api LedgerQueryAPI, table string, issue int) (map[string]int, error) {
	counts := map[string]int{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("#i = :i"),
		ProjectionExpression:      aws.String("#s"),
		ExpressionAttributeNames:  map[string]string{"#i": "issue", "#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":i": number(issue)},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := api.Query(ctx, in)
		if err != nil {
			return nil, classify(fmt.Sprintf("query ledger of issue %d", issue), err)
		}
		for _, item := range out.Items {
			s, _ := item["state"].(*types.AttributeValueMemberS)
			if s != nil {
				counts[s.Value]++
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return counts, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// LedgerBatchAPI is the part of the DynamoDB client the batched ledger
// calls use, on top of LedgerAPI.
type LedgerBatchAPI interface {
	LedgerAPI
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// maxTransactItems is DynamoDB's limit of items per transaction.
const maxTransactItems = 100

// TxLedger is the Ledger with delivery.BatchLedger: a chunk's claims and
// outcomes in one TransactWriteItems call each. Use it on DynamoDB; moto
// copies the table on every transaction (seconds for 50 items once the
// ledger holds a few thousand), so the local stack runs the plain Ledger.
type TxLedger struct{ *Ledger }

// ClaimMany claims recipients in one transaction per 100 (one per SES
// chunk in practice) instead of one call each (delivery.BatchLedger). A
// transaction is all or nothing: when some claims are refused, DynamoDB says
// which (CancellationReasons) and the rest are claimed in a second one.
func (l TxLedger) ClaimMany(ctx context.Context, issue int, recipients []string, now time.Time, lease time.Duration) ([]delivery.ClaimState, error) {
	states := make([]delivery.ClaimState, len(recipients))
	for start := 0; start < len(recipients); start += maxTransactItems {
		end := min(len(recipients), start+maxTransactItems)
		if err := l.claimPart(ctx, issue, recipients[start:end], states[start:end], now, lease); err != nil {
			return nil, err
		}
	}
	return states, nil
}

func (l TxLedger) claimPart(ctx context.Context, issue int, recipients []string, states []delivery.ClaimState, now time.Time, lease time.Duration) error {
	api, ok := l.api.(LedgerBatchAPI)
	pending := make([]int, len(recipients))
	for i := range pending {
		pending[i] = i
	}
	var oneByOne []int
	for attempt := 0; ok && len(pending) > 0 && attempt < 3; attempt++ {
		items := make([]types.TransactWriteItem, len(pending))
		for k, i := range pending {
			items[k] = types.TransactWriteItem{Update: &types.Update{
				TableName: aws.String(l.table),
				Key:       ledgerKey(issue, recipients[i]),
				UpdateExpression: aws.String("SET #s = :claimed, leaseUntil = :until, claimedAt = :now " +
					"ADD attempts :one"),
				ConditionExpression:                 aws.String("attribute_not_exists(#s) OR #s = :retry OR (#s = :claimed AND leaseUntil < :now)"),
				ExpressionAttributeNames:            map[string]string{"#s": "state"},
				ExpressionAttributeValues:           claimValues(now, lease),
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}}
		}
		_, err := api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			for _, i := range pending {
				states[i] = delivery.Claimed
			}
			return nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) || len(tce.CancellationReasons) != len(pending) {
			if gazette.KindOf(classify("", err)) == gazette.KindThrottled {
				return classify(fmt.Sprintf("claim %d recipients of issue %d", len(pending), issue), err)
			}
			break // let the one-by-one path sort it out
		}
		var next []int
		for k, reason := range tce.CancellationReasons {
			i := pending[k]
			switch aws.ToString(reason.Code) {
			case "ConditionalCheckFailed":
				st, known := stateOf(reason.Item)
				if !known {
					oneByOne = append(oneByOne, i) // no old item returned: ask one by one
					continue
				}
				states[i] = st
			default: // None (would have passed), TransactionConflict: try again
				next = append(next, i)
			}
		}
		pending = next
	}
	for _, i := range append(oneByOne, pending...) {
		st, err := l.Claim(ctx, issue, recipients[i], now, lease)
		if err != nil {
			return err
		}
		states[i] = st
	}
	return nil
}

func claimValues(now time.Time, lease time.Duration) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		":claimed": &types.AttributeValueMemberS{Value: ledgerClaimed},
		":retry":   &types.AttributeValueMemberS{Value: ledgerRetry},
		":until":   unixMillis(now.Add(lease)),
		":now":     unixMillis(now),
		":one":     &types.AttributeValueMemberN{Value: "1"},
	}
}

// stateOf reads a refused claim's old item; known is false without one.
func stateOf(item map[string]types.AttributeValue) (delivery.ClaimState, bool) {
	s, _ := item["state"].(*types.AttributeValueMemberS)
	if s == nil {
		return 0, false
	}
	switch s.Value {
	case ledgerSent:
		return delivery.Sent, true
	case ledgerFailed:
		return delivery.Failed, true
	}
	return delivery.InFlight, true
}

// RecordMany writes SES's outcome for a chunk in one transaction per 100
// (delivery.BatchLedger). On an error nothing was written, and the caller
// falls back to one write each.
func (l TxLedger) RecordMany(ctx context.Context, issue int, rs []delivery.Record) error {
	api, ok := l.api.(LedgerBatchAPI)
	if !ok {
		return errors.New("ledger: the DynamoDB client has no TransactWriteItems")
	}
	for start := 0; start < len(rs); start += maxTransactItems {
		part := rs[start:min(len(rs), start+maxTransactItems)]
		items := make([]types.TransactWriteItem, len(part))
		for k, r := range part {
			values := map[string]types.AttributeValue{}
			expr := "SET #s = :state"
			names := map[string]string{"#s": "state"}
			switch r.State {
			case delivery.Sent:
				values[":state"] = &types.AttributeValueMemberS{Value: ledgerSent}
				values[":id"] = &types.AttributeValueMemberS{Value: r.MessageID}
				values[":at"] = &types.AttributeValueMemberS{Value: r.At.UTC().Format(time.RFC3339Nano)}
				expr += ", messageId = :id, sentAt = :at"
			case delivery.Failed:
				values[":state"] = &types.AttributeValueMemberS{Value: ledgerFailed}
				values[":e"] = &types.AttributeValueMemberS{Value: r.Reason}
				expr += ", lastError = :e"
			default:
				values[":state"] = &types.AttributeValueMemberS{Value: ledgerRetry}
				values[":e"] = &types.AttributeValueMemberS{Value: r.Reason}
				expr += ", lastError = :e"
			}
			items[k] = types.TransactWriteItem{Update: &types.Update{
				TableName: aws.String(l.table), Key: ledgerKey(issue, r.Recipient),
				UpdateExpression: aws.String(expr), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
			}}
		}
		if _, err := api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			return classify(fmt.Sprintf("record %d outcomes of issue %d", len(part), issue), err)
		}
	}
	return nil
}
