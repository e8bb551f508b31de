package feedback

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/eventstest"
	"github.com/gazette-news/gazette/internal/gazette"
)

// sqsBodies returns the message bodies of an events/ file, in order.
func sqsBodies(tb testing.TB, name string) []string {
	tb.Helper()
	var bodies []string
	for _, r := range eventstest.Load[events.SQSEvent](tb, name).Records {
		bodies = append(bodies, r.Body)
	}
	return bodies
}

var eventFiles = []string{"ses-feedback-bounce.json", "ses-feedback-complaint.json", "ses-feedback-mixed.json"}

// mailTime is mail.timestamp in every sample event.
var mailTime = time.Date(2026, time.November, 27, 7, 0, 58, 123_000_000, time.UTC)

func TestParse(t *testing.T) {
	bounce := sqsBodies(t, "ses-feedback-bounce.json")
	complaint := sqsBodies(t, "ses-feedback-complaint.json")
	mixed := sqsBodies(t, "ses-feedback-mixed.json")
	if len(bounce) != 1 || len(complaint) != 1 || len(mixed) != 4 {
		t.Fatalf("sample events changed: %d, %d, %d records", len(bounce), len(complaint), len(mixed))
	}
	tests := []struct {
		name     string
		body     string
		want     Event
		wantKind gazette.Kind // KindUnknown: no error expected
	}{
		{
			name: "permanent bounce in SNS envelope", body: bounce[0],
			want: Event{Type: "Bounce", BounceType: "Permanent", Recipients: []string{"bounce@simulator.amazonses.com"}, Issue: 1, Timestamp: mailTime},
		},
		{
			name: "complaint in SNS envelope", body: complaint[0],
			want: Event{Type: "Complaint", Recipients: []string{"complaint@simulator.amazonses.com"}, Issue: 1, Timestamp: mailTime},
		},
		{
			name: "transient bounce in SNS envelope", body: mixed[0],
			want: Event{Type: "Bounce", BounceType: "Transient", Recipients: []string{"ooto@simulator.amazonses.com"}, Issue: 1, Timestamp: mailTime},
		},
		{
			name: "delivery in SNS envelope", body: mixed[1],
			want: Event{Type: "Delivery", Recipients: []string{"success@simulator.amazonses.com"}, Issue: 1, Timestamp: mailTime},
		},
		{
			// The bounced recipient, not mail.destination, is who bounced.
			name: "classic raw notificationType bounce", body: mixed[2],
			want: Event{Type: "Bounce", BounceType: "Permanent", Recipients: []string{"classic@example.com"}, Issue: 1, Timestamp: mailTime},
		},
		{name: "garbage", body: mixed[3], wantKind: gazette.KindInvalid},
		{
			name: "raw configuration-set send event falls back to the destination",
			body: `{"eventType":"Send","mail":{"timestamp":"2026-11-27T07:00:58.123Z","destination":["a@example.com","b@example.com"],"tags":{"issue":["12"]}},"send":{}}`,
			want: Event{Type: "Send", Recipients: []string{"a@example.com", "b@example.com"}, Issue: 12, Timestamp: mailTime},
		},
		{
			name: "classic complaint inside SNS envelope",
			body: `{"Type":"Notification","Message":"{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":[{\"emailAddress\":\"c@example.com\"}]},\"mail\":{\"destination\":[\"c@example.com\"]}}"}`,
			want: Event{Type: "Complaint", Recipients: []string{"c@example.com"}},
		},
		{
			name: "non-numeric issue tag is no issue",
			body: `{"eventType":"Delivery","delivery":{"recipients":["d@example.com"]},"mail":{"tags":{"issue":["twelve"]}}}`,
			want: Event{Type: "Delivery", Recipients: []string{"d@example.com"}},
		},
		{name: "empty body", body: ``, wantKind: gazette.KindInvalid},
		{name: "JSON null", body: `null`, wantKind: gazette.KindInvalid},
		{name: "JSON array", body: `[{"eventType":"Bounce"}]`, wantKind: gazette.KindInvalid},
		{name: "object without a type", body: `{"mail":{"destination":["a@example.com"]}}`, wantKind: gazette.KindInvalid},
		{name: "SNS envelope around garbage", body: `{"Type":"Notification","Message":"not json"}`, wantKind: gazette.KindInvalid},
		{name: "SNS envelope with empty message", body: `{"Type":"Notification","Message":""}`, wantKind: gazette.KindInvalid},
		{name: "SNS subscription confirmation", body: `{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe","SubscribeURL":"https://sns.example"}`, wantKind: gazette.KindInvalid},
		{name: "bad mail timestamp", body: `{"eventType":"Delivery","mail":{"timestamp":"yesterday"}}`, wantKind: gazette.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if tt.wantKind != gazette.KindUnknown {
				if err == nil {
					t.Fatalf("Parse() = %+v, want a %s error", got, tt.wantKind)
				}
				if k := gazette.KindOf(err); k != tt.wantKind {
					t.Errorf("error kind = %s, want %s (%v)", k, tt.wantKind, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() (-want +got):\n%s", diff)
			}
		})
	}
}

// ---- Handle ----------------------------------------------------------------

type suppression struct {
	ID     string
	Status gazette.SubscriberStatus
	Reason string
	At     time.Time
}

type fakeSubscribers struct {
	mu    sync.Mutex
	calls []suppression
	errs  map[string]error // by subscriber ID
}

func (f *fakeSubscribers) Suppress(_ context.Context, id string, status gazette.SubscriberStatus, reason string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, suppression{id, status, reason, at})
	return f.errs[id]
}

type count struct {
	Issue   int
	Counter string
	N       int
}

type fakeStats struct {
	mu     sync.Mutex
	counts []count
	err    error
}

func (f *fakeStats) Count(_ context.Context, issue int, counter string, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts = append(f.counts, count{issue, counter, n})
	return f.err
}

func TestHandle(t *testing.T) {
	now := time.Date(2026, time.November, 27, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	nowUTC := now.UTC()
	id := gazette.SubscriberID
	tests := []struct {
		name      string
		ev        Event
		subErrs   map[string]error
		statsErr  error
		noStats   bool
		wantErr   bool
		wantSupp  []suppression
		wantCount []count
	}{
		{
			name:      "permanent bounce suppresses as bounced",
			ev:        Event{Type: "Bounce", BounceType: "Permanent", Recipients: []string{"bounce@example.com"}, Issue: 4},
			wantSupp:  []suppression{{id("bounce@example.com"), gazette.SubscriberBounced, "bounce (permanent)", nowUTC}},
			wantCount: []count{{4, "bounce", 1}},
		},
		{
			name:      "address case does not change whom we suppress",
			ev:        Event{Type: "Bounce", BounceType: "Permanent", Recipients: []string{"  Bounce@Example.COM"}, Issue: 4},
			wantSupp:  []suppression{{id("bounce@example.com"), gazette.SubscriberBounced, "bounce (permanent)", nowUTC}},
			wantCount: []count{{4, "bounce", 1}},
		},
		{
			name: "complaint suppresses every complainer as complained",
			ev:   Event{Type: "Complaint", Recipients: []string{"a@example.com", "b@example.com"}, Issue: 4},
			wantSupp: []suppression{
				{id("a@example.com"), gazette.SubscriberComplained, "complaint", nowUTC},
				{id("b@example.com"), gazette.SubscriberComplained, "complaint", nowUTC},
			},
			wantCount: []count{{4, "complaint", 2}},
		},
		{
			name:      "transient bounce is only counted",
			ev:        Event{Type: "Bounce", BounceType: "Transient", Recipients: []string{"ooto@example.com"}, Issue: 4},
			wantCount: []count{{4, "transientBounce", 1}},
		},
		{
			name:      "undetermined bounce is not a suppression",
			ev:        Event{Type: "Bounce", BounceType: "Undetermined", Recipients: []string{"x@example.com"}, Issue: 4},
			wantCount: []count{{4, "transientBounce", 1}},
		},
		{
			name:      "delivery is counted",
			ev:        Event{Type: "Delivery", Recipients: []string{"ok@example.com"}, Issue: 4},
			wantCount: []count{{4, "delivery", 1}},
		},
		{
			name: "event without an issue tag counts nothing",
			ev:   Event{Type: "Delivery", Recipients: []string{"ok@example.com"}},
		},
		{
			name:    "no stats store configured",
			ev:      Event{Type: "Complaint", Recipients: []string{"a@example.com"}, Issue: 4},
			noStats: true,
			wantSupp: []suppression{
				{id("a@example.com"), gazette.SubscriberComplained, "complaint", nowUTC},
			},
		},
		{
			name:      "unknown subscriber is not an error",
			ev:        Event{Type: "Bounce", BounceType: "Permanent", Recipients: []string{"gone@example.com"}, Issue: 4},
			subErrs:   map[string]error{id("gone@example.com"): gazette.Errorf(gazette.KindNotFound, "subscriber_not_found", "no such subscriber")},
			wantSupp:  []suppression{{id("gone@example.com"), gazette.SubscriberBounced, "bounce (permanent)", nowUTC}},
			wantCount: []count{{4, "bounce", 1}},
		},
		{
			name:     "store failure is returned for a retry",
			ev:       Event{Type: "Complaint", Recipients: []string{"a@example.com"}, Issue: 4},
			subErrs:  map[string]error{id("a@example.com"): gazette.Errorf(gazette.KindThrottled, "throttled", "slow down")},
			wantErr:  true,
			wantSupp: []suppression{{id("a@example.com"), gazette.SubscriberComplained, "complaint", nowUTC}},
		},
		{
			name:      "stats failure is returned",
			ev:        Event{Type: "Delivery", Recipients: []string{"ok@example.com"}, Issue: 4},
			statsErr:  errors.New("dynamodb unavailable"),
			wantErr:   true,
			wantCount: []count{{4, "delivery", 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subs := &fakeSubscribers{errs: tt.subErrs}
			stats := &fakeStats{err: tt.statsErr}
			svc := &Service{Subscribers: subs, Stats: stats, Now: func() time.Time { return now },
				Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			if tt.noStats {
				svc.Stats = nil
			}
			err := svc.Handle(context.Background(), tt.ev)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Handle() error = %v, want error %t", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantSupp, subs.calls); diff != "" {
				t.Errorf("suppressions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCount, stats.counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseAndHandleSamples runs every sample body through Parse and Handle,
// as the Lambda does, and checks who ends up suppressed.
func TestParseAndHandleSamples(t *testing.T) {
	subs := &fakeSubscribers{}
	stats := &fakeStats{}
	svc := &Service{Subscribers: subs, Stats: stats, Now: time.Now, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	var invalid int
	for _, f := range eventFiles {
		for _, body := range sqsBodies(t, f) {
			ev, err := Parse([]byte(body))
			if err != nil {
				invalid++
				continue
			}
			if err := svc.Handle(context.Background(), ev); err != nil {
				t.Errorf("%s: Handle() error = %v", f, err)
			}
		}
	}
	if invalid != 1 {
		t.Errorf("%d unreadable sample bodies, want 1", invalid)
	}
	got := map[string]gazette.SubscriberStatus{}
	for _, s := range subs.calls {
		got[s.ID] = s.Status
	}
	want := map[string]gazette.SubscriberStatus{
		gazette.SubscriberID("bounce@simulator.amazonses.com"):    gazette.SubscriberBounced,
		gazette.SubscriberID("complaint@simulator.amazonses.com"): gazette.SubscriberComplained,
		gazette.SubscriberID("classic@example.com"):               gazette.SubscriberBounced,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("suppressed (-want +got):\n%s", diff)
	}
	counters := map[string]int{}
	for _, c := range stats.counts {
		if c.Issue != 1 {
			t.Errorf("counted for issue %d, want 1", c.Issue)
		}
		counters[c.Counter] += c.N
	}
	if diff := cmp.Diff(map[string]int{"bounce": 2, "complaint": 1, "transientBounce": 1, "delivery": 1}, counters); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range eventFiles {
		for _, body := range sqsBodies(f, name) {
			f.Add([]byte(body))
		}
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `{"Type":"Notification","Message":"{}"}`,
		`{"Type":"Notification","Message":"{\"eventType\":\"Bounce\",\"bounce\":{}}"}`,
		`{"notificationType":"Delivery","delivery":{"recipients":null},"mail":{"tags":{"issue":[]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err != nil {
			if k := gazette.KindOf(err); k != gazette.KindInvalid {
				t.Errorf("Parse(%q) error kind = %s, want invalid: %v", body, k, err)
			}
			return
		}
		if ev.Type == "" {
			t.Errorf("Parse(%q) accepted an event without a type: %+v", body, ev)
		}
	})
}
