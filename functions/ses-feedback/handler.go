package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gazette-news/gazette/internal/feedback"
	"github.com/gazette-news/gazette/internal/gazette"
)

// Acter is the core call this handler makes for each SES event.
type Acter interface {
	Handle(ctx context.Context, ev feedback.Event) error
}

// Handler turns SQS messages carrying SES events (via SNS) into core calls.
type Handler struct {
	Feedback Acter
	Log      *slog.Logger
}

// Handle processes one SQS batch. Unreadable messages and failed updates
// are batch item failures: retried, then kept in the DLQ for a person,
// because a lost complaint would mean mailing someone who asked us to stop.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, msg := range ev.Records {
		e, err := feedback.Parse([]byte(msg.Body))
		if err == nil {
			err = h.Feedback.Handle(ctx, e)
		}
		if err != nil {
			h.Log.ErrorContext(ctx, "SES event failed", "messageId", msg.MessageId,
				"kind", gazette.KindOf(err).String(), "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp, nil
}
