package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/eventstest"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/publish"
)

// fakePublisher counts calls and answers with a set result and error.
type fakePublisher struct {
	res   publish.Result
	err   error
	calls int
}

func (f *fakePublisher) PublishDigest(context.Context) (publish.Result, error) {
	f.calls++
	return f.res, f.err
}

func loadRaw(t *testing.T, name string) json.RawMessage {
	t.Helper()
	return eventstest.Load[json.RawMessage](t, name)
}

func TestHandle(t *testing.T) {
	coreErr := gazette.Errorf(gazette.KindThrottled, "throttled", "SES throttled PutTemplate")
	published := publish.Result{Issue: 7, Subject: "Gazette #7: News", Articles: 4, Batches: 3, Recipients: 120}
	tests := []struct {
		name      string
		raw       json.RawMessage
		res       publish.Result
		coreErr   error
		want      publish.Result
		wantCalls int
		wantErr   error        // matched with errors.Is when set
		wantKind  gazette.Kind // checked when no wantErr and an error is expected
		wantFail  bool
	}{
		{
			name: "schedule input publishes", raw: loadRaw(t, "publish-digest-schedule.json"),
			res: published, want: published, wantCalls: 1,
		},
		{
			name: "nothing to publish is a success", raw: json.RawMessage(`{"action":"publish"}`),
			res: publish.Result{Skipped: true}, want: publish.Result{Skipped: true}, wantCalls: 1,
		},
		{
			name: "resumed issue result is passed through", raw: json.RawMessage(`{"action":"publish","extra":1}`),
			res:  publish.Result{Issue: 3, Batches: 10, Recipients: 500, Resumed: true},
			want: publish.Result{Issue: 3, Batches: 10, Recipients: 500, Resumed: true}, wantCalls: 1,
		},
		{
			name: "core error fails the invocation", raw: json.RawMessage(`{"action":"publish"}`),
			coreErr: coreErr, wantCalls: 1, wantFail: true, wantErr: coreErr,
		},
		{name: "unknown action", raw: json.RawMessage(`{"action":"unpublish"}`), wantFail: true, wantKind: gazette.KindInvalid},
		{name: "action with other case", raw: json.RawMessage(`{"action":"Publish"}`), wantFail: true, wantKind: gazette.KindInvalid},
		{name: "no action", raw: json.RawMessage(`{}`), wantFail: true, wantKind: gazette.KindInvalid},
		{name: "classic scheduled event", raw: json.RawMessage(`{"version":"0","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`),
			wantFail: true, wantKind: gazette.KindInvalid},
		{name: "not JSON", raw: json.RawMessage(`publish`), wantFail: true, wantKind: gazette.KindInvalid},
		{name: "action of the wrong type", raw: json.RawMessage(`{"action":1}`), wantFail: true, wantKind: gazette.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePublisher{res: tt.res, err: tt.coreErr}
			h := &Handler{Publish: f, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			got, err := h.Handle(context.Background(), tt.raw)
			if (err != nil) != tt.wantFail {
				t.Fatalf("Handle() error = %v, want error %t", err, tt.wantFail)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Handle() error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantFail && tt.wantErr == nil && gazette.KindOf(err) != tt.wantKind {
				t.Errorf("error kind = %s, want %s (%v)", gazette.KindOf(err), tt.wantKind, err)
			}
			if f.calls != tt.wantCalls {
				t.Errorf("PublishDigest called %d times, want %d", f.calls, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}
