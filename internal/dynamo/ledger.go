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
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Ledger states. A recipient's record has `state` sent or failed; a batch
// claim item (sort key "batch#<n>") has `claim` held, open or done, and no
// `state`, so LedgerCounts counts recipients only.
const (
	ledgerSent   = "sent"
	ledgerFailed = "failed"

	claimHeld = "held"
	claimOpen = "open"
	claimDone = "done"

	// claimPrefix starts a batch claim's sort key; subscriber IDs are hex.
	claimPrefix = "batch#"
)

// DynamoDB's limits per BatchGetItem and BatchWriteItem call.
const (
	maxBatchGet   = 100
	maxBatchWrite = 25
)

// batchRetries is how many times unprocessed keys and items are sent again
// (with a doubling back-off from batchBackoff) before giving up.
const batchRetries = 6

var batchBackoff = 10 * time.Millisecond

// Ledger is the delivery ledger (delivery.Ledger): one claim item per
// (issue, batch) with its owner, lease, recipients' hash and pending count,
// and one record per (issue, recipient) written after SES answered: sent
// (messageId, sentAt, batch) or failed (lastError, batch). See the delivery
// package documentation for the protocol and its races.
type Ledger struct {
	api   LedgerAPI
	table string
}

// NewLedger returns the ledger table named table.
func NewLedger(api LedgerAPI, table string) *Ledger { return &Ledger{api: api, table: table} }

func claimItemKey(k delivery.BatchKey) map[string]types.AttributeValue {
	return ledgerKey(k.Issue, claimPrefix+strconv.Itoa(k.Batch))
}

// Claim takes batch k with one conditional UpdateItem: no claim yet, an
// open one, a held one whose lease ran out, or one done for other
// recipients (a re-formed batch). When refused, one consistent GetItem says
// whether it is done or in flight.
func (l *Ledger) Claim(ctx context.Context, k delivery.BatchKey, owner string, pending int, now time.Time, lease time.Duration) (delivery.ClaimState, error) {
	_, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key:       claimItemKey(k),
		UpdateExpression: aws.String("SET #c = :held, #o = :owner, leaseUntil = :until, claimedAt = :now, " +
			"#h = :hash, pending = :pending ADD attempts :one"),
		ConditionExpression: aws.String("attribute_not_exists(#c) OR #c = :open OR (#c = :held AND leaseUntil < :now) " +
			"OR (#c = :done AND #h <> :hash)"),
		ExpressionAttributeNames: map[string]string{"#c": "claim", "#o": "owner", "#h": "hash"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":held":    &types.AttributeValueMemberS{Value: claimHeld},
			":open":    &types.AttributeValueMemberS{Value: claimOpen},
			":done":    &types.AttributeValueMemberS{Value: claimDone},
			":owner":   &types.AttributeValueMemberS{Value: owner},
			":hash":    &types.AttributeValueMemberS{Value: k.Hash},
			":until":   unixMillis(now.Add(lease)),
			":now":     unixMillis(now),
			":pending": number(pending),
			":one":     number(1),
		},
	})
	err = classify(fmt.Sprintf("claim issue %d batch %d", k.Issue, k.Batch), err)
	if gazette.KindOf(err) != gazette.KindConflict {
		return delivery.Claimed, err
	}
	out, err := l.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(l.table), Key: claimItemKey(k), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, classify(fmt.Sprintf("read claim of issue %d batch %d", k.Issue, k.Batch), err)
	}
	c, _ := out.Item["claim"].(*types.AttributeValueMemberS)
	h, _ := out.Item["hash"].(*types.AttributeValueMemberS)
	switch {
	case c == nil:
		// Changed under us (released a moment ago): the redelivery retries.
		return delivery.InFlight, nil
	case c.Value == claimDone && h != nil && h.Value == k.Hash:
		return delivery.Done, nil
	}
	return delivery.InFlight, nil
}

// Release ends owner's claim on k (conditional on the owner: a successor's
// claim is left alone): done, or open with pending recipients left.
func (l *Ledger) Release(ctx context.Context, k delivery.BatchKey, owner string, done bool, pending int, reason string) error {
	state := claimOpen
	if done {
		state = claimDone
	}
	_, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.table),
		Key:                      claimItemKey(k),
		UpdateExpression:         aws.String("SET #c = :state, pending = :pending, lastError = :reason REMOVE #o, leaseUntil"),
		ConditionExpression:      aws.String("#c = :held AND #o = :owner"),
		ExpressionAttributeNames: map[string]string{"#c": "claim", "#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":state":   &types.AttributeValueMemberS{Value: state},
			":held":    &types.AttributeValueMemberS{Value: claimHeld},
			":owner":   &types.AttributeValueMemberS{Value: owner},
			":pending": number(pending),
			":reason":  &types.AttributeValueMemberS{Value: reason},
		},
	})
	return classify(fmt.Sprintf("release issue %d batch %d (%s)", k.Issue, k.Batch, state), err)
}

// Lookup reads the recipients' records with BatchGetItem (consistent, 100
// keys a call), retrying unprocessed keys.
func (l *Ledger) Lookup(ctx context.Context, issue int, recipients []string) (map[string]delivery.ClaimState, error) {
	out := map[string]delivery.ClaimState{}
	seen := make(map[string]bool, len(recipients))
	var keys []map[string]types.AttributeValue
	for _, r := range recipients {
		if !seen[r] { // BatchGetItem refuses duplicate keys
			seen[r] = true
			keys = append(keys, ledgerKey(issue, r))
		}
	}
	for start := 0; start < len(keys); start += maxBatchGet {
		req := map[string]types.KeysAndAttributes{l.table: {
			Keys: keys[start:min(len(keys), start+maxBatchGet)], ConsistentRead: aws.Bool(true),
			ProjectionExpression:     aws.String("recipient, #s"),
			ExpressionAttributeNames: map[string]string{"#s": "state"},
		}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > batchRetries {
				return nil, gazette.Errorf(gazette.KindThrottled, "dynamodb",
					"look up %d recipients of issue %d: keys still unprocessed after %d attempts", len(recipients), issue, attempt)
			}
			if attempt > 0 {
				if err := sleep(ctx, batchBackoff<<(attempt-1)); err != nil {
					return nil, err
				}
			}
			res, err := l.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, classify(fmt.Sprintf("look up %d recipients of issue %d", len(recipients), issue), err)
			}
			for _, item := range res.Responses[l.table] {
				r, _ := item["recipient"].(*types.AttributeValueMemberS)
				s, _ := item["state"].(*types.AttributeValueMemberS)
				if r == nil || s == nil {
					continue
				}
				switch s.Value {
				case ledgerSent:
					out[r.Value] = delivery.Sent
				case ledgerFailed:
					out[r.Value] = delivery.Failed
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// Record writes the outcomes with BatchWriteItem (25 a call), retrying
// unprocessed items. On an error it returns a *delivery.RecordError naming
// every recipient whose record may not be written.
func (l *Ledger) Record(ctx context.Context, issue int, rs []delivery.Record) error {
	// BatchWriteItem refuses two requests for one key: the last outcome wins.
	last := make(map[string]int, len(rs))
	for i, r := range rs {
		last[r.Recipient] = i
	}
	var reqs []types.WriteRequest
	var ids []string
	for i, r := range rs {
		if last[r.Recipient] != i {
			continue
		}
		item := ledgerKey(issue, r.Recipient)
		item["batch"] = number(r.Batch)
		switch r.State {
		case delivery.Sent:
			item["state"] = &types.AttributeValueMemberS{Value: ledgerSent}
			item["messageId"] = &types.AttributeValueMemberS{Value: r.MessageID}
			item["sentAt"] = &types.AttributeValueMemberS{Value: r.At.UTC().Format(time.RFC3339Nano)}
		case delivery.Failed:
			item["state"] = &types.AttributeValueMemberS{Value: ledgerFailed}
			item["lastError"] = &types.AttributeValueMemberS{Value: r.Reason}
		default:
			return fmt.Errorf("ledger issue %d recipient %s: cannot record state %d", issue, r.Recipient, r.State)
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		ids = append(ids, r.Recipient)
	}
	var unwritten []string
	var firstErr error
	for start := 0; start < len(reqs); start += maxBatchWrite {
		end := min(len(reqs), start+maxBatchWrite)
		left, err := l.write(ctx, reqs[start:end])
		if err == nil {
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
		if left == nil { // the call failed: any of its items may be unwritten
			unwritten = append(unwritten, ids[start:end]...)
			continue
		}
		for _, w := range left {
			if r, ok := w.PutRequest.Item["recipient"].(*types.AttributeValueMemberS); ok {
				unwritten = append(unwritten, r.Value)
			}
		}
	}
	if firstErr != nil {
		return &delivery.RecordError{Unwritten: unwritten,
			Err: classify(fmt.Sprintf("record %d outcomes of issue %d", len(reqs), issue), firstErr)}
	}
	return nil
}

// write sends one BatchWriteItem of ≤ 25 requests and retries what DynamoDB
// leaves unprocessed. On an error it returns the requests still unwritten,
// or nil when the call itself failed.
func (l *Ledger) write(ctx context.Context, reqs []types.WriteRequest) ([]types.WriteRequest, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, batchBackoff<<(attempt-1)); err != nil {
				return reqs, err
			}
		}
		out, err := l.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{l.table: reqs},
		})
		if err != nil {
			return nil, err
		}
		reqs = out.UnprocessedItems[l.table]
		if len(reqs) == 0 {
			return nil, nil
		}
		if attempt >= batchRetries {
			return reqs, errors.New("items still unprocessed after retries")
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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

// LedgerCounts counts issue's recipients by ledger state (sent, failed, …),
// and, from the batch claims, the recipients of batches held by a running
// send ("claimed", at most: some may be recorded already) and of batches
// released with recipients to retry ("retry"), page by page.
func LedgerCounts(ctx context.Context, api LedgerQueryAPI, table string, issue int) (map[string]int, error) {
	counts := map[string]int{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("#i = :i"),
		ProjectionExpression:      aws.String("#s, #c, pending"),
		ExpressionAttributeNames:  map[string]string{"#i": "issue", "#s": "state", "#c": "claim"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":i": number(issue)},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := api.Query(ctx, in)
		if err != nil {
			return nil, classify(fmt.Sprintf("query ledger of issue %d", issue), err)
		}
		for _, item := range out.Items {
			if s, _ := item["state"].(*types.AttributeValueMemberS); s != nil {
				counts[s.Value]++
			}
			c, _ := item["claim"].(*types.AttributeValueMemberS)
			p, _ := item["pending"].(*types.AttributeValueMemberN)
			if c == nil || p == nil {
				continue
			}
			n, _ := strconv.Atoi(p.Value)
			switch c.Value {
			case claimHeld:
				counts["claimed"] += n
			case claimOpen:
				counts["retry"] += n
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return counts, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
