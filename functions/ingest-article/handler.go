package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/ingest"
)

// Ingester is the core call this handler makes for each object.
type Ingester interface {
	IngestArticle(ctx context.Context, key string) (ingest.Result, error)
}

// Handler turns SQS messages carrying S3 notifications into IngestArticle calls.
type Handler struct {
	Ingest Ingester
	Bucket string
	Log    *slog.Logger
}

// Handle processes one SQS batch. A message whose work may succeed later
// (S3 or DynamoDB unavailable, throttling) is reported as a batch item
// failure, so SQS delivers it again and, after maxReceiveCount, parks it in
// the DLQ; so is a message we cannot read at all, which the DLQ keeps for a
// person to look at. Files that are not articles are not failures: the core
// moves them to rejected/ with their reason.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, msg := range ev.Records {
		if err := h.message(ctx, msg); err != nil {
			h.Log.ErrorContext(ctx, "article event failed", "messageId", msg.MessageId,
				"kind", gazette.KindOf(err).String(), "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp, nil
}

func (h *Handler) message(ctx context.Context, msg events.SQSMessage) error {
	var s3ev struct {
		events.S3Event
		Event string `json:"Event"` // "s3:TestEvent" when a notification is configured
	}
	if err := json.Unmarshal([]byte(msg.Body), &s3ev); err != nil {
		return gazette.Wrap(gazette.KindInvalid, "bad_message", fmt.Errorf("message %s is not an S3 event: %w", msg.MessageId, err))
	}
	if s3ev.Event == "s3:TestEvent" {
		h.Log.InfoContext(ctx, "S3 test event ignored", "messageId", msg.MessageId)
		return nil
	}
	if len(s3ev.Records) == 0 {
		return gazette.Errorf(gazette.KindInvalid, "bad_message", "message %s has no S3 records", msg.MessageId)
	}
	for _, rec := range s3ev.Records {
		if rec.S3.Bucket.Name != h.Bucket {
			return gazette.Errorf(gazette.KindInvalid, "bad_message", "message %s is about bucket %q, not %q", msg.MessageId, rec.S3.Bucket.Name, h.Bucket)
		}
		// S3 URL-encodes keys in notifications (a space arrives as "+").
		key, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil {
			return gazette.Wrap(gazette.KindInvalid, "bad_message", fmt.Errorf("object key %q: %w", rec.S3.Object.Key, err))
		}
		_, err = h.Ingest.IngestArticle(ctx, key)
		switch {
		case err == nil:
		case gazette.KindOf(err) == gazette.KindNotFound:
			// Deleted before we got to it and not under processed/ or
			// rejected/ either: there is nothing left to keep or retry.
			h.Log.WarnContext(ctx, "article object gone", "object", key, "error", err.Error())
		default:
			return err
		}
	}
	return nil
}
