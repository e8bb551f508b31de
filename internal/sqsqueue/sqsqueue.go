// Package sqsqueue sends JSON messages to an SQS queue.
package sqsqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// API is the part of the SQS client this package uses.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// maxBatch is SQS's limit of entries per SendMessageBatch.
const maxBatch = 10

// Queue is one SQS queue.
type Queue struct {
	api API
	url string
}

// New returns the queue at url reached through api.
func New(api API, url string) *Queue { return &Queue{api: api, url: url} }

// SendJSON sends each value as one JSON message, ten per call. Entries SQS
// refuses are retried once in the next call; if any still fail the error
// says how many, and the caller retries the whole set (consumers are
// idempotent, so a message sent twice does no harm).
func (q *Queue) SendJSON(ctx context.Context, values []any) error {
	bodies := make([]string, len(values))
	for i, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode message %d: %w", i, err)
		}
		bodies[i] = string(b)
	}
	for start := 0; start < len(bodies); start += maxBatch {
		chunk := bodies[start:min(start+maxBatch, len(bodies))]
		for attempt := 0; len(chunk) > 0; attempt++ {
			if attempt == 2 {
				return fmt.Errorf("send to %s: %d messages refused", q.url, len(chunk))
			}
			entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
			for i, body := range chunk {
				entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body)}
			}
			out, err := q.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
			if err != nil {
				return fmt.Errorf("send to %s: %w", q.url, err)
			}
			var retry []string
			for _, f := range out.Failed {
				i, _ := strconv.Atoi(aws.ToString(f.Id))
				retry = append(retry, chunk[i])
			}
			chunk = retry
		}
	}
	return nil
}

// MaxDelay is the longest delay SQS allows on a message.
const MaxDelay = 15 * time.Minute

// Send sends one message body as is, visible after delay (at most
// MaxDelay), with string message attributes. (One SendMessageBatch entry, so
// that API stays the one call this package needs.)
func (q *Queue) Send(ctx context.Context, body string, delay time.Duration, attrs map[string]string) error {
	e := types.SendMessageBatchRequestEntry{
		Id:           aws.String("0"),
		MessageBody:  aws.String(body),
		DelaySeconds: int32(min(max(delay, 0), MaxDelay) / time.Second),
	}
	if len(attrs) > 0 {
		e.MessageAttributes = map[string]types.MessageAttributeValue{}
		for k, v := range attrs {
			e.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	out, err := q.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url), Entries: []types.SendMessageBatchRequestEntry{e}})
	if err != nil {
		return fmt.Errorf("send to %s: %w", q.url, err)
	}
	if len(out.Failed) > 0 {
		return fmt.Errorf("send to %s: refused: %s", q.url, aws.ToString(out.Failed[0].Message))
	}
	return nil
}
