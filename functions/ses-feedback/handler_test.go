package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/eventstest"
	"github.com/gazette-news/gazette/internal/feedback"
	"github.com/gazette-news/gazette/internal/gazette"
)

// Message IDs in the sample events.
const (
	complaintMsg = "2a7f4b3c-8d5e-4f6a-9b0c-1d2e3f4a5b06"
	classicMsg   = "5d0c7e6f-1a8b-4c9d-8e3f-4a5b6c7d8e09"
	garbageMsg   = "6e1d8f7a-2b9c-4d0e-9f4a-5b6c7d8e9f10"
)

// fakeActer records the events it gets and fails those whose first
// recipient has an error set.
type fakeActer struct {
	errs   map[string]error
	events []feedback.Event
}

func (f *fakeActer) Handle(_ context.Context, ev feedback.Event) error {
	f.events = append(f.events, ev)
	if len(ev.Recipients) > 0 {
		return f.errs[ev.Recipients[0]]
	}
	return nil
}

func loadEvent(t *testing.T, name string) events.SQSEvent {
	t.Helper()
	return eventstest.Load[events.SQSEvent](t, name)
}

// summary is what the test compares of each event the core got.
type summary struct {
	Type, BounceType, To string
	Issue                int
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name         string
		event        string
		errs         map[string]error
		want         []summary
		wantFailures []string
	}{
		{
			name: "permanent bounce", event: "ses-feedback-bounce.json",
			want: []summary{{"Bounce", "Permanent", "bounce@simulator.amazonses.com", 1}},
		},
		{
			name: "complaint", event: "ses-feedback-complaint.json",
			want: []summary{{"Complaint", "", "complaint@simulator.amazonses.com", 1}},
		},
		{
			name: "mixed batch: only the unreadable body fails", event: "ses-feedback-mixed.json",
			want: []summary{
				{"Bounce", "Transient", "ooto@simulator.amazonses.com", 1},
				{"Delivery", "", "success@simulator.amazonses.com", 1},
				{"Bounce", "Permanent", "classic@example.com", 1},
			},
			wantFailures: []string{garbageMsg},
		},
		{
			name: "core error fails only its message", event: "ses-feedback-mixed.json",
			errs: map[string]error{"classic@example.com": gazette.Errorf(gazette.KindThrottled, "throttled", "slow down")},
			want: []summary{
				{"Bounce", "Transient", "ooto@simulator.amazonses.com", 1},
				{"Delivery", "", "success@simulator.amazonses.com", 1},
				{"Bounce", "Permanent", "classic@example.com", 1},
			},
			wantFailures: []string{classicMsg, garbageMsg},
		},
		{
			name: "a failed complaint is kept for a retry", event: "ses-feedback-complaint.json",
			errs:         map[string]error{"complaint@simulator.amazonses.com": gazette.Errorf(gazette.KindUnknown, "dynamo", "unavailable")},
			want:         []summary{{"Complaint", "", "complaint@simulator.amazonses.com", 1}},
			wantFailures: []string{complaintMsg},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeActer{errs: tt.errs}
			h := &Handler{Feedback: f, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			resp, err := h.Handle(context.Background(), loadEvent(t, tt.event))
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			var got []summary
			for _, ev := range f.events {
				if len(ev.Recipients) != 1 {
					t.Fatalf("event %+v: want exactly one recipient", ev)
				}
				got = append(got, summary{ev.Type, ev.BounceType, ev.Recipients[0], ev.Issue})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events handled (-want +got):\n%s", diff)
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
