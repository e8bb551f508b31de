package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/eventstest"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/ingest"
)

const bucket = "gazette-articles-123456789012-us-east-1"

// fakeIngester records keys and answers with the error set for each.
type fakeIngester struct {
	errs map[string]error
	keys []string
}

func (f *fakeIngester) IngestArticle(_ context.Context, key string) (ingest.Result, error) {
	f.keys = append(f.keys, key)
	return ingest.Result{Outcome: ingest.Stored}, f.errs[key]
}

func loadEvent(t *testing.T, name string) events.SQSEvent {
	t.Helper()
	return eventstest.Load[events.SQSEvent](t, name)
}

func TestHandle(t *testing.T) {
	const seedKey = "incoming/000_5bde65eb5c9cc6ce.txt"
	tests := []struct {
		name         string
		event        string
		errs         map[string]error
		wantKeys     []string
		wantFailures []string
	}{
		{
			name: "S3 notification ingests the object", event: "ingest-article-s3-sqs.json",
			wantKeys: []string{seedKey},
		},
		{
			name: "unreadable message fails alone; test event ignored", event: "ingest-article-bad-message.json",
			wantKeys: []string{seedKey}, wantFailures: []string{"5e0c7a11-8f0e-4b8e-a7d5-3f0b1f6c9b02"},
		},
		{
			name: "transient store error is retried", event: "ingest-article-s3-sqs.json",
			errs:     map[string]error{seedKey: gazette.Errorf(gazette.KindThrottled, "throttled", "slow down")},
			wantKeys: []string{seedKey}, wantFailures: []string{"9d1b2f9e-4c1a-4c55-9f3e-0c3f4e1d2a01"},
		},
		{
			name: "object gone everywhere is dropped with a log line", event: "ingest-article-s3-sqs.json",
			errs:     map[string]error{seedKey: gazette.Errorf(gazette.KindNotFound, "no_such_key", "gone")},
			wantKeys: []string{seedKey},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeIngester{errs: tt.errs}
			h := &Handler{Ingest: f, Bucket: bucket, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			resp, err := h.Handle(context.Background(), loadEvent(t, tt.event))
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			if diff := cmp.Diff(tt.wantKeys, f.keys); diff != "" {
				t.Errorf("ingested keys (-want +got):\n%s", diff)
			}
			var failed []string
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if diff := cmp.Diff(tt.wantFailures, failed); diff != "" {
				t.Errorf("batch item failures (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandleRefusesOtherBucket(t *testing.T) {
	h := &Handler{Ingest: &fakeIngester{}, Bucket: "another-bucket", Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	resp, err := h.Handle(context.Background(), loadEvent(t, "ingest-article-s3-sqs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 {
		t.Errorf("a notification for another bucket was accepted: %+v", resp)
	}
}
