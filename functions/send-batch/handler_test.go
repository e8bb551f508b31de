package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/eventstest"
	"github.com/gazette-news/gazette/internal/gazette"
)

const sampleMsg = "3a5c7e9b-2d4f-4a6c-8e0b-1c3d5e7f9a04"

// fakeSender records batches and fails those whose batch number has an
// error set.
type fakeSender struct {
	errs    map[int]error
	batches []gazette.SendBatch
}

func (f *fakeSender) SendBatch(_ context.Context, b gazette.SendBatch) (delivery.Result, error) {
	f.batches = append(f.batches, b)
	if err := f.errs[b.Batch]; err != nil {
		return delivery.Result{Retry: len(b.Recipients)}, err
	}
	return delivery.Result{Sent: len(b.Recipients)}, nil
}

func loadEvent(t *testing.T, name string) events.SQSEvent {
	t.Helper()
	return eventstest.Load[events.SQSEvent](t, name)
}

// sample is the batch in events/send-batch-sqs.json.
var sample = gazette.SendBatch{
	Issue: 1, Batch: 1, Template: "gazette-issue-1",
	Recipients: []gazette.Recipient{
		{SubscriberID: "b5fc85e55755f9e0d030a10ab4429b6b", Email: "ada@example.com", Name: "Ada"},
		{SubscriberID: "b533d4547eaa5a0fa955965a1ca393cc", Email: "grace@example.com", Name: "Grace"},
	},
}

func batchWith(batch, n int, template string) gazette.SendBatch {
	b := gazette.SendBatch{Issue: 1, Batch: batch, Template: template}
	for i := range n {
		email := fmt.Sprintf("r%02d@example.com", i)
		b.Recipients = append(b.Recipients, gazette.Recipient{SubscriberID: gazette.SubscriberID(email), Email: email})
	}
	return b
}

// message is a copy of the sample record with another ID and body.
func message(t *testing.T, id string, body any) events.SQSMessage {
	t.Helper()
	msg := loadEvent(t, "send-batch-sqs.json").Records[0]
	msg.MessageId = id
	switch b := body.(type) {
	case string:
		msg.Body = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		msg.Body = string(data)
	}
	return msg
}

func TestSampleEventDecodes(t *testing.T) {
	// Guards the fixture the table below relies on.
	ev := loadEvent(t, "send-batch-sqs.json")
	if len(ev.Records) != 1 || ev.Records[0].MessageId != sampleMsg {
		t.Fatalf("sample event changed: %+v", ev.Records)
	}
	for _, r := range sample.Recipients {
		if gazette.SubscriberID(r.Email) != r.SubscriberID {
			t.Errorf("%s: sample ID %s is not its SubscriberID", r.Email, r.SubscriberID)
		}
	}
}

func TestHandle(t *testing.T) {
	throttled := gazette.Errorf(gazette.KindThrottled, "retry", "2 recipients to retry")
	tests := []struct {
		name         string
		records      func(t *testing.T) []events.SQSMessage
		errs         map[int]error
		wantSent     []gazette.SendBatch
		wantFailures []string
	}{
		{
			name:     "sample batch is sent",
			records:  func(t *testing.T) []events.SQSMessage { return loadEvent(t, "send-batch-sqs.json").Records },
			wantSent: []gazette.SendBatch{sample},
		},
		{
			name:         "core error is a batch item failure",
			records:      func(t *testing.T) []events.SQSMessage { return loadEvent(t, "send-batch-sqs.json").Records },
			errs:         map[int]error{1: throttled},
			wantSent:     []gazette.SendBatch{sample},
			wantFailures: []string{sampleMsg},
		},
		{
			name: "50 recipients is the most a batch may carry",
			records: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{message(t, "m50", batchWith(2, 50, "gazette-issue-1"))}
			},
			wantSent: []gazette.SendBatch{batchWith(2, 50, "gazette-issue-1")},
		},
		{
			name: "bad batches fail alone, good ones in the same event are sent",
			records: func(t *testing.T) []events.SQSMessage {
				noIssue := batchWith(6, 2, "gazette-issue-1")
				noIssue.Issue = 0
				return []events.SQSMessage{
					message(t, "ok-1", batchWith(1, 3, "gazette-issue-1")),
					message(t, "zero", batchWith(2, 0, "gazette-issue-1")),
					message(t, "fifty-one", batchWith(3, 51, "gazette-issue-1")),
					message(t, "no-template", batchWith(4, 2, "")),
					message(t, "not-json", "{\"issue\": 1, \"recipients\": ["),
					message(t, "no-issue", noIssue),
					message(t, "wrong-type", `{"issue":"one","batch":1,"template":"t","recipients":[{"id":"x","email":"x@example.com"}]}`),
					message(t, "ok-2", batchWith(5, 1, "gazette-issue-1")),
				}
			},
			wantSent:     []gazette.SendBatch{batchWith(1, 3, "gazette-issue-1"), batchWith(5, 1, "gazette-issue-1")},
			wantFailures: []string{"zero", "fifty-one", "no-template", "not-json", "no-issue", "wrong-type"},
		},
		{
			name: "only the failing batch of several is retried",
			records: func(t *testing.T) []events.SQSMessage {
				return []events.SQSMessage{
					message(t, "a", batchWith(1, 2, "gazette-issue-1")),
					message(t, "b", batchWith(2, 2, "gazette-issue-1")),
					message(t, "c", batchWith(3, 2, "gazette-issue-1")),
				}
			},
			errs: map[int]error{2: fmt.Errorf("send issue 1 batch 2: %w", gazette.Errorf(gazette.KindUnknown, "ses_5xx", "internal"))},
			wantSent: []gazette.SendBatch{
				batchWith(1, 2, "gazette-issue-1"), batchWith(2, 2, "gazette-issue-1"), batchWith(3, 2, "gazette-issue-1"),
			},
			wantFailures: []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSender{errs: tt.errs}
			h := &Handler{Send: f, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: tt.records(t)})
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			if diff := cmp.Diff(tt.wantSent, f.batches); diff != "" {
				t.Errorf("batches sent (-want +got):\n%s", diff)
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

// fakeParking records parked and deferred batches; err fails both.
type fakeParking struct {
	parked, deferred []parkedMsg
	err              error
}

type parkedMsg struct {
	Body  string
	Delay time.Duration
	Attrs map[string]string
}

func (f *fakeParking) Park(_ context.Context, body string, attrs map[string]string) error {
	if f.err != nil {
		return f.err
	}
	f.parked = append(f.parked, parkedMsg{Body: body, Attrs: attrs})
	return nil
}

func (f *fakeParking) Defer(_ context.Context, body string, delay time.Duration, attrs map[string]string) error {
	if f.err != nil {
		return f.err
	}
	f.deferred = append(f.deferred, parkedMsg{Body: body, Delay: delay, Attrs: attrs})
	return nil
}

func TestHandleParksAndDefers(t *testing.T) {
	paused := fmt.Errorf("send issue 1 batch 1: %w",
		gazette.Errorf(gazette.KindThrottled, delivery.CodePaused, "issue 1 paused: bounce rate 6.00%% (60 of 1000) above 5.00%%"))
	quota := fmt.Errorf("send issue 1 batch 1: %w",
		gazette.Errorf(gazette.KindThrottled, delivery.CodeDailyQuota, "24-hour quota nearly used"))
	body := func(t *testing.T) string { return message(t, "x", batchWith(1, 2, "gazette-issue-1")).Body }
	tests := []struct {
		name         string
		err          error
		parkErr      error
		deferrals    string // incoming gazette-deferrals attribute
		wantParked   []parkedMsg
		wantDeferred []parkedMsg
		wantFailures []string
	}{
		{
			name: "paused issue: batch parked in the DLQ with its reason, deleted from the queue",
			err:  paused,
			wantParked: []parkedMsg{{Attrs: map[string]string{
				AttrReason: "paused", AttrIssue: "1", AttrDetail: paused.Error(),
			}}},
		},
		{
			name: "daily quota: batch back on the queue after the delay, counted",
			err:  quota, deferrals: "2",
			wantDeferred: []parkedMsg{{Delay: 15 * time.Minute, Attrs: map[string]string{
				AttrReason: "daily_quota", AttrIssue: "1", AttrDeferrals: "3",
			}}},
		},
		{
			name: "parking fails: the batch is retried by SQS",
			err:  paused, parkErr: fmt.Errorf("SQS unavailable"),
			wantFailures: []string{"m1"},
		},
		{
			name:         "other errors stay batch item failures",
			err:          gazette.Errorf(gazette.KindUnknown, "ses_5xx", "internal"),
			wantFailures: []string{"m1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSender{errs: map[int]error{1: tt.err}}
			p := &fakeParking{err: tt.parkErr}
			h := &Handler{Send: f, Parking: p, QuotaDelay: 15 * time.Minute, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			msg := message(t, "m1", batchWith(1, 2, "gazette-issue-1"))
			if tt.deferrals != "" {
				v := tt.deferrals
				msg.MessageAttributes = map[string]events.SQSMessageAttribute{AttrDeferrals: {StringValue: &v, DataType: "String"}}
			}
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{msg}})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if diff := cmp.Diff(tt.wantFailures, failed); diff != "" {
				t.Errorf("batch item failures (-want +got):\n%s", diff)
			}
			for i := range tt.wantParked {
				tt.wantParked[i].Body = body(t)
			}
			for i := range tt.wantDeferred {
				tt.wantDeferred[i].Body = body(t)
			}
			if diff := cmp.Diff(tt.wantParked, p.parked); diff != "" {
				t.Errorf("parked (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDeferred, p.deferred); diff != "" {
				t.Errorf("deferred (-want +got):\n%s", diff)
			}
		})
	}
}
