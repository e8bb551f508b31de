package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// poller is the local stand-in for one SQS event source mapping: it long-polls
// the queue, invokes the function with an events.SQSEvent, deletes what
// succeeded and hands failures back to the queue.
type poller struct {
	s          *Server
	r          *runner
	src        SQSEventSource
	inPoller   atomic.Int32
	deliveries atomic.Int64
}

func (p *poller) run(ctx context.Context) {
	log := p.s.log.With("function", p.r.fn.LogicalID, "queue", p.src.Queue)
	log.Info("polling", "queueUrl", p.src.QueueURL, "batchSize", p.src.BatchSize, "reportBatchItemFailures", p.src.ReportBatchItemFailures)
	waitedForBuild := false
	for ctx.Err() == nil {
		// Polling for a function that cannot run would burn the messages'
		// receive counts and send them to the DLQ: wait for the build instead.
		if !p.r.built() {
			if !waitedForBuild {
				log.Warn("function not built: not polling until its bootstrap exists", "bootstrap", p.r.bin)
				waitedForBuild = true
			}
			sleep(ctx, time.Second)
			continue
		}
		if waitedForBuild {
			log.Info("function built: polling")
			waitedForBuild = false
		}
		batch := min(max(p.src.BatchSize, 1), 10)
		out, err := p.s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(p.src.QueueURL),
			MaxNumberOfMessages:         int32(batch),
			WaitTimeSeconds:             int32(p.s.o.PollWait / time.Second),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("receive failed", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		p.inPoller.Store(int32(len(out.Messages)))
		p.handle(ctx, log, out.Messages)
		p.inPoller.Store(0)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// SQSEventFor builds the event Lambda's SQS event source mapping would send
// for these messages.
func SQSEventFor(msgs []sqstypes.Message, queueARN, region string) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(msgs))}
	for _, m := range msgs {
		rec := events.SQSMessage{
			MessageId:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Md5OfBody:              aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             m.Attributes,
			MessageAttributes:      map[string]events.SQSMessageAttribute{},
			EventSourceARN:         queueARN,
			EventSource:            "aws:sqs",
			AWSRegion:              region,
		}
		if rec.Attributes == nil {
			rec.Attributes = map[string]string{}
		}
		for k, a := range m.MessageAttributes {
			rec.MessageAttributes[k] = events.SQSMessageAttribute{
				StringValue:      a.StringValue,
				BinaryValue:      a.BinaryValue,
				StringListValues: a.StringListValues,
				BinaryListValues: a.BinaryListValues,
				DataType:         aws.ToString(a.DataType),
			}
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev
}

// FailedItems applies Lambda's partial batch response rules: a function error
// fails the whole batch; with ReportBatchItemFailures, the listed message IDs
// fail, and an unparseable response or an unknown or empty ID fails all.
// It returns the failed message IDs among ids.
func FailedItems(ids []string, payload []byte, functionError, reportBatchItemFailures bool) map[string]bool {
	all := func() map[string]bool {
		out := map[string]bool{}
		for _, id := range ids {
			out[id] = true
		}
		return out
	}
	if functionError {
		return all()
	}
	failed := map[string]bool{}
	trimmed := bytes.TrimSpace(payload)
	if !reportBatchItemFailures || len(trimmed) == 0 || string(trimmed) == "null" {
		return failed
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(trimmed, &resp); err != nil {
		return all()
	}
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
	}
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" || !known[f.ItemIdentifier] {
			return all()
		}
		failed[f.ItemIdentifier] = true
	}
	return failed
}

func (p *poller) handle(ctx context.Context, log interface {
	Info(string, ...any)
	Warn(string, ...any)
	Error(string, ...any)
}, msgs []sqstypes.Message) {
	ev := SQSEventFor(msgs, p.src.QueueARN, p.s.stack.Region)
	payload, err := json.Marshal(ev)
	if err != nil {
		log.Error("encode SQS event", "err", err)
		return
	}
	p.deliveries.Add(1)
	res, err := p.r.invoke(ctx, payload)
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = aws.ToString(m.MessageId)
	}
	var failed map[string]bool
	if err != nil {
		log.Error("invocation could not run: batch returned to the queue", "err", err)
		failed = FailedItems(ids, nil, true, false)
	} else {
		failed = FailedItems(ids, res.Payload, res.FunctionError, p.src.ReportBatchItemFailures)
	}
	var del []sqstypes.DeleteMessageBatchRequestEntry
	var retry []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	for i, m := range msgs {
		entryID := strconv.Itoa(i)
		if failed[ids[i]] {
			retry = append(retry, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(entryID), ReceiptHandle: m.ReceiptHandle,
				VisibilityTimeout: int32(p.s.o.RetryDelay / time.Second),
			})
		} else {
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(entryID), ReceiptHandle: m.ReceiptHandle})
		}
	}
	// Cleanup must happen even when serve is stopping, or the messages would
	// stay invisible for the queue's whole visibility timeout.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if len(del) > 0 {
		out, err := p.s.sqs.DeleteMessageBatch(cctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.src.QueueURL), Entries: del})
		if err != nil {
			log.Error("delete processed messages", "err", err)
		} else if len(out.Failed) > 0 {
			log.Error("delete processed messages: some failed", "failed", len(out.Failed))
		}
	}
	if len(retry) > 0 {
		// The one local deviation: Lambda leaves a failed message invisible
		// for the queue's VisibilityTimeout (360 s here) before the retry;
		// locally it comes back after RetryDelay, so that retries and the
		// redrive to the DLQ (moto applies maxReceiveCount on receive) take
		// seconds, not half an hour.
		if _, err := p.s.sqs.ChangeMessageVisibilityBatch(cctx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(p.src.QueueURL), Entries: retry,
		}); err != nil {
			log.Error("shorten retry wait of failed messages", "err", err)
		}
	}
	attrs := []any{"received", len(msgs), "deleted", len(del), "failed", len(retry)}
	if res.FunctionError {
		attrs = append(attrs, "functionError", string(res.Payload))
	}
	if len(retry) > 0 {
		log.Warn("sqs batch processed with failures", attrs...)
	} else {
		log.Info("sqs batch processed", attrs...)
	}
}
