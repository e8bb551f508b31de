package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/gazette"
)

// Sender is the core call this handler makes for each batch.
type Sender interface {
	SendBatch(ctx context.Context, b gazette.SendBatch) (delivery.Result, error)
}

// Handler turns SQS send-batch messages into SendBatch calls.
type Handler struct {
	Send Sender
	Log  *slog.Logger
}

// Handle sends each batch in the event. Any batch that is not fully done
// (throttled, SES or DynamoDB unavailable, recipients in flight elsewhere,
// or unreadable) is reported as a batch item failure: SQS delivers it again
// after the visibility timeout, the ledger skips whoever was sent already,
// and after maxReceiveCount the queue parks it in the DLQ, from where
// `gazette issue resume` re-drives it.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, msg := range ev.Records {
		if err := h.message(ctx, msg); err != nil {
			h.Log.ErrorContext(ctx, "send batch failed", "messageId", msg.MessageId,
				"receiveCount", msg.Attributes["ApproximateReceiveCount"],
				"kind", gazette.KindOf(err).String(), "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp, nil
}

func (h *Handler) message(ctx context.Context, msg events.SQSMessage) error {
	var b gazette.SendBatch
	if err := json.Unmarshal([]byte(msg.Body), &b); err != nil {
		return gazette.Wrap(gazette.KindInvalid, "bad_message", fmt.Errorf("message %s is not a send batch: %w", msg.MessageId, err))
	}
	if b.Issue <= 0 || b.Template == "" || len(b.Recipients) == 0 || len(b.Recipients) > gazette.MaxBatchRecipients {
		return gazette.Errorf(gazette.KindInvalid, "bad_message",
			"message %s: batch needs an issue, a template and 1 to %d recipients", msg.MessageId, gazette.MaxBatchRecipients)
	}
	_, err := h.Send.SendBatch(ctx, b)
	return err
}
