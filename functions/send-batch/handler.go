package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/gazette"
)

// Sender is the core call this handler makes for each batch.
type Sender interface {
	SendBatch(ctx context.Context, b gazette.SendBatch) (delivery.Result, error)
}

// Parking is where batches go that must wait rather than be retried at
// once: the send DLQ for a paused issue, the send queue itself (delayed)
// when the 24-hour quota is used up.
type Parking interface {
	// Park moves a batch to the send DLQ, with its reason as message
	// attributes; `gazette issue resume` re-drives it.
	Park(ctx context.Context, body string, attrs map[string]string) error
	// Defer puts a batch back on the send queue, visible after delay.
	Defer(ctx context.Context, body string, delay time.Duration, attrs map[string]string) error
}

// Message attributes on parked and deferred batches.
const (
	AttrReason    = "gazette-reason" // "paused"
	AttrIssue     = "gazette-issue"
	AttrDetail    = "gazette-detail"
	AttrDeferrals = "gazette-deferrals" // how often the quota deferred the batch
)

// Handler turns SQS send-batch messages into SendBatch calls.
type Handler struct {
	Send Sender
	// Parking is optional: without it, paused and quota-stopped batches are
	// batch item failures like any other retry.
	Parking Parking
	// QuotaDelay is how long a batch stopped by the 24-hour quota waits
	// before it is tried again (SQS allows 15 minutes at most).
	QuotaDelay time.Duration
	Log        *slog.Logger
}

// Handle sends each batch in the event. Any batch that is not fully done
// (throttled, SES or DynamoDB unavailable, its claim held by another delivery,
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
	if err == nil || h.Parking == nil {
		return err
	}
	switch gazette.CodeOf(err) {
	case delivery.CodePaused:
		// Parked, not failed: out of the queue so that it does not burn its
		// receive count, in the DLQ with the reason until the operator
		// resumes the issue.
		attrs := map[string]string{AttrReason: "paused", AttrIssue: strconv.Itoa(b.Issue), AttrDetail: err.Error()}
		if perr := h.Parking.Park(ctx, msg.Body, attrs); perr != nil {
			return fmt.Errorf("park batch of paused issue %d: %w (%w)", b.Issue, perr, err)
		}
		h.Log.WarnContext(ctx, "batch parked: issue paused", "messageId", msg.MessageId,
			"issue", b.Issue, "batch", b.Batch, "resume", fmt.Sprintf("gazette issue resume %d", b.Issue))
		return nil
	case delivery.CodeDailyQuota:
		// Back on the queue as a new message: the wait for the rolling
		// 24 hours to free up may take many rounds, which must not count
		// as receives towards the DLQ.
		n := 0
		if v := msg.MessageAttributes[AttrDeferrals].StringValue; v != nil {
			n, _ = strconv.Atoi(*v)
		}
		attrs := map[string]string{AttrReason: "daily_quota", AttrIssue: strconv.Itoa(b.Issue), AttrDeferrals: strconv.Itoa(n + 1)}
		if derr := h.Parking.Defer(ctx, msg.Body, h.QuotaDelay, attrs); derr != nil {
			return fmt.Errorf("defer batch of issue %d: %w (%w)", b.Issue, derr, err)
		}
		h.Log.WarnContext(ctx, "batch deferred: 24-hour quota nearly used", "messageId", msg.MessageId,
			"issue", b.Issue, "batch", b.Batch, "delay", h.QuotaDelay.String(), "deferrals", n+1, "error", err.Error())
		return nil
	}
	return err
}
