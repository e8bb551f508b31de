package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
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

// Ledger states: a batch item's `claim` is held, open or done.
const (
	claimHeld = "held"
	claimOpen = "open"
	claimDone = "done"

	// claimPrefix starts a batch item's sort key; publish's plan item is
	// "plan" (PlanRecipient).
	claimPrefix = "batch#"
)

// Ledger is the delivery ledger (delivery.Ledger): one item per (issue,
// batch), sort key "batch#<n>", holding the claim (claim, owner,
// leaseUntil, hash, pending, attempts) and the recipients' outcomes as
// string sets: `sent` of "<subscriber ID> <SES message ID>", `failed` of
// "<subscriber ID> <reason>" and `suppressed` of "<subscriber ID>" (left
// after the batch was planned, not sent). Sets make a Record idempotent and
// commutative: writing the same outcome twice changes nothing, and a late
// writer cannot erase an earlier one. See the delivery package
// documentation for the protocol and its races.
type Ledger struct {
	api   LedgerAPI
	table string
}

// NewLedger returns the ledger table named table.
func NewLedger(api LedgerAPI, table string) *Ledger { return &Ledger{api: api, table: table} }

func claimItemKey(k delivery.BatchKey) map[string]types.AttributeValue {
	return ledgerKey(k.Issue, claimPrefix+strconv.Itoa(k.Batch))
}

// Claim takes batch k with one conditional UpdateItem: no item yet, an open
// one, a held one whose lease ran out, or one done for other recipients.
// The same call returns the item as it was: its outcome sets on success,
// or, when refused, whether it is done or in flight (a consistent GetItem
// stands in when the error carries no item).
func (l *Ledger) Claim(ctx context.Context, k delivery.BatchKey, owner string, pending int, now time.Time, lease time.Duration) (delivery.ClaimState, map[string]delivery.ClaimState, error) {
	out, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
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
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return delivery.Claimed, recorded(out.Attributes), nil
	}
	var refused *types.ConditionalCheckFailedException
	if !errors.As(err, &refused) {
		return 0, nil, classify(fmt.Sprintf("claim issue %d batch %d", k.Issue, k.Batch), err)
	}
	item := refused.Item
	if item == nil {
		got, err := l.api.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(l.table), Key: claimItemKey(k), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return 0, nil, classify(fmt.Sprintf("read claim of issue %d batch %d", k.Issue, k.Batch), err)
		}
		item = got.Item
	}
	c, _ := item["claim"].(*types.AttributeValueMemberS)
	h, _ := item["hash"].(*types.AttributeValueMemberS)
	if c != nil && c.Value == claimDone && h != nil && h.Value == k.Hash {
		return delivery.Done, nil, nil
	}
	// Held by a live invocation, or changed under us a moment ago: the
	// redelivery tries again.
	return delivery.InFlight, nil, nil
}

// outcomeSets are a batch item's outcome sets, "sent" first: a recipient
// found in it and another (a retry after SES accepted the mail after all)
// counts as sent.
var outcomeSets = []struct {
	attr  string
	state delivery.ClaimState
}{{"sent", delivery.Sent}, {"failed", delivery.Failed}, {"suppressed", delivery.Suppressed}}

// recorded reads a batch item's outcome sets.
func recorded(item map[string]types.AttributeValue) map[string]delivery.ClaimState {
	known := map[string]delivery.ClaimState{}
	for _, o := range outcomeSets {
		set, _ := item[o.attr].(*types.AttributeValueMemberSS)
		if set == nil {
			continue
		}
		for _, e := range set.Value {
			id, _, _ := strings.Cut(e, " ")
			if _, ok := known[id]; !ok {
				known[id] = o.state
			}
		}
	}
	return known
}

// Record adds rs to batch k's outcome sets with one UpdateItem, conditional
// on owner holding the claim, and with rel.End ends the claim in the same
// write. When owner lost the claim the outcomes are added unconditionally
// (they are facts the successor must see) and the error is
// gazette.KindConflict.
func (l *Ledger) Record(ctx context.Context, k delivery.BatchKey, owner string, rs []delivery.Record, rel delivery.Release) error {
	op := fmt.Sprintf("record %d outcomes of issue %d batch %d", len(rs), k.Issue, k.Batch)
	adds, sets, err := addOutcomes(rs)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	names := map[string]string{"#c": "claim", "#o": "owner"}
	values := maps.Clone(sets)
	values[":held"] = &types.AttributeValueMemberS{Value: claimHeld}
	values[":owner"] = &types.AttributeValueMemberS{Value: owner}
	expr := ""
	if rel.End {
		state := claimOpen
		if rel.Done {
			state = claimDone
		}
		values[":state"] = &types.AttributeValueMemberS{Value: state}
		values[":pending"] = number(rel.Pending)
		values[":reason"] = &types.AttributeValueMemberS{Value: rel.Reason}
		expr = "SET #c = :state, pending = :pending, lastError = :reason REMOVE #o, leaseUntil"
	}
	if adds != "" {
		expr = strings.TrimSpace(expr + " " + adds)
	}
	if expr == "" {
		return nil // nothing to write: no outcomes, claim kept
	}
	_, err = l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       claimItemKey(k),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#c = :held AND #o = :owner"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var refused *types.ConditionalCheckFailedException
	if !errors.As(err, &refused) {
		return classify(op, err)
	}
	if adds != "" {
		if _, err := l.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(l.table), Key: claimItemKey(k),
			UpdateExpression: aws.String(adds), ExpressionAttributeValues: sets,
		}); err != nil {
			return classify(op+" (claim lost)", err)
		}
	}
	return gazette.Errorf(gazette.KindConflict, "claim_lost", "%s: claim no longer held by %s; outcomes recorded", op, owner)
}

// addOutcomes turns rs into an "ADD sent :sent, failed :failed, …" clause
// and its values (empty sets are not allowed, so a set without members is
// left out). Members are "<subscriber ID> <message ID or reason>".
func addOutcomes(rs []delivery.Record) (string, map[string]types.AttributeValue, error) {
	members := map[delivery.ClaimState][]string{}
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		var e string
		switch r.State {
		case delivery.Sent:
			e = r.Recipient + " " + r.MessageID
		case delivery.Failed:
			e = r.Recipient + " " + r.Reason
		case delivery.Suppressed:
			e = r.Recipient
		default:
			return "", nil, fmt.Errorf("recipient %s: cannot record state %d", r.Recipient, r.State)
		}
		if seen[e] {
			return "", nil, fmt.Errorf("recipient %s: outcome given twice", r.Recipient)
		}
		seen[e] = true
		members[r.State] = append(members[r.State], e)
	}
	values := map[string]types.AttributeValue{}
	var parts []string
	for _, o := range outcomeSets {
		if m := members[o.state]; len(m) > 0 {
			values[":"+o.attr] = &types.AttributeValueMemberSS{Value: m}
			parts = append(parts, o.attr+" :"+o.attr)
		}
	}
	if len(parts) == 0 {
		return "", values, nil
	}
	return "ADD " + strings.Join(parts, ", "), values, nil
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

// LedgerCounts counts issue's recipients by outcome (sent, failed,
// suppressed) from
// its batch items, and the recipients of batches held by a running send
// ("claimed", at most: some may be recorded already) and of batches
// released with recipients to retry ("retry"), page by page.
func LedgerCounts(ctx context.Context, api LedgerQueryAPI, table string, issue int) (map[string]int, error) {
	counts := map[string]int{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("#i = :i AND begins_with(#r, :batch)"),
		ProjectionExpression:      aws.String("#c, pending, sent, failed, suppressed"),
		ExpressionAttributeNames:  map[string]string{"#i": "issue", "#r": "recipient", "#c": "claim"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":i": number(issue), ":batch": &types.AttributeValueMemberS{Value: claimPrefix}},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := api.Query(ctx, in)
		if err != nil {
			return nil, classify(fmt.Sprintf("query ledger of issue %d", issue), err)
		}
		for _, item := range out.Items {
			for _, st := range recorded(item) {
				switch st {
				case delivery.Sent:
					counts["sent"]++
				case delivery.Failed:
					counts["failed"]++
				case delivery.Suppressed:
					counts["suppressed"]++
				}
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
