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

// The reputation guard's attributes on an issue item, next to the
// stat_<event> counters that ses-feedback adds to. IssueState does not carry
// them, so publish's Save never touches them.
const (
	attrPausedAt      = "pausedAt"
	attrPauseReason   = "pauseReason"
	attrResumedAt     = "resumedAt"
	attrBaseSent      = "guardBaseSent"
	attrBaseBounce    = "guardBaseBounce"
	attrBaseComplaint = "guardBaseComplaint"
)

// Health reads issue n's feedback counters and pause state
// (delivery.HealthStore). A missing issue is gazette.KindNotFound.
func (s *Issues) Health(ctx context.Context, n int) (delivery.IssueHealth, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: numberKey(n), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return delivery.IssueHealth{}, classify(fmt.Sprintf("get issue %d health", n), err)
	}
	if out.Item == nil {
		return delivery.IssueHealth{}, gazette.Errorf(gazette.KindNotFound, "no_issue", "issue %d not found", n)
	}
	return healthOf(out.Item), nil
}

func healthOf(item map[string]types.AttributeValue) delivery.IssueHealth {
	num := func(k string) int {
		if v, ok := item[k].(*types.AttributeValueMemberN); ok {
			n, _ := strconv.ParseFloat(v.Value, 64)
			return int(n)
		}
		return 0
	}
	str := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	return delivery.IssueHealth{
		Send: num("stat_send"), Delivery: num("stat_delivery"),
		Bounce: num("stat_bounce"), Complaint: num("stat_complaint"),
		Paused: str(attrPausedAt) != "", PauseReason: str(attrPauseReason),
		BaseSent: num(attrBaseSent), BaseBounce: num(attrBaseBounce), BaseComplaint: num(attrBaseComplaint),
	}
}

// Pause marks issue n paused with the reason; it reports false when the
// issue was paused already.
func (s *Issues) Pause(ctx context.Context, n int, reason string, at time.Time) (bool, error) {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      numberKey(n),
		UpdateExpression:         aws.String("SET #p = :at, #r = :reason"),
		ConditionExpression:      aws.String("attribute_exists(#num) AND attribute_not_exists(#p)"),
		ExpressionAttributeNames: map[string]string{"#p": attrPausedAt, "#r": attrPauseReason, "#num": "number"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at":     &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
			":reason": &types.AttributeValueMemberS{Value: reason},
		},
	})
	err = classify(fmt.Sprintf("pause issue %d", n), err)
	if gazette.KindOf(err) == gazette.KindConflict {
		return false, nil
	}
	return err == nil, err
}

// Resume clears issue n's pause and makes its current counters the guard's
// baseline, so that the guard judges only what happens from now on. It
// returns the health the issue had before.
func (s *Issues) Resume(ctx context.Context, n int, at time.Time) (delivery.IssueHealth, error) {
	h, err := s.Health(ctx, n)
	if err != nil {
		return h, err
	}
	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       numberKey(n),
		UpdateExpression: aws.String("SET #ra = :at, #bs = :sent, #bb = :bounce, #bc = :complaint " +
			"REMOVE #p, #r"),
		ConditionExpression: aws.String("attribute_exists(#num)"),
		ExpressionAttributeNames: map[string]string{
			"#ra": attrResumedAt, "#bs": attrBaseSent, "#bb": attrBaseBounce, "#bc": attrBaseComplaint,
			"#p": attrPausedAt, "#r": attrPauseReason, "#num": "number",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at":        &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
			":sent":      number(h.Sent()),
			":bounce":    number(h.Bounce),
			":complaint": number(h.Complaint),
		},
	})
	return h, classify(fmt.Sprintf("resume issue %d", n), err)
}
