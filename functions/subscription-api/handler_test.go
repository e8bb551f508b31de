package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/eventstest"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
	"github.com/gazette-news/gazette/internal/token"
)

// testKey signed the tokens in events/subscription-api-*.json (valid until
// 2100, except the -expired one).
var testKey = []byte("gazette-local-test-signing-key-0123456789")

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const ann = "ann@example.com"

// store is an in-memory subscription.Store with the optimistic lock.
type store struct {
	mu   sync.Mutex
	recs map[string]subscription.Record
}

func (s *store) Load(_ context.Context, id string) (subscription.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[id]
	if !ok {
		return r, gazette.Errorf(gazette.KindNotFound, "subscriber_not_found", "no %s", id)
	}
	r.Topics, r.History = slices.Clone(r.Topics), slices.Clone(r.History)
	return r, nil
}

func (s *store) Save(_ context.Context, r subscription.Record, prev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs[r.ID].Version != prev {
		return gazette.Errorf(gazette.KindConflict, "version", "stale")
	}
	r.Version = prev + 1
	s.recs[r.ID] = r
	return nil
}

func (s *store) status(email string) gazette.SubscriberStatus {
	return s.recs[gazette.SubscriberID(email)].Status
}

type sentMail struct{ to, name, url string }

type mailbox struct {
	mu   sync.Mutex
	sent []sentMail
}

func (m *mailbox) SendConfirmation(_ context.Context, to, name, u string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, sentMail{to, name, u})
	return nil
}

// seed puts ann in the store in state st ("" leaves the store empty).
func seed(st gazette.SubscriberStatus) *store {
	s := &store{recs: map[string]subscription.Record{}}
	if st == "" {
		return s
	}
	r := subscription.Record{Subscriber: gazette.Subscriber{
		ID: gazette.SubscriberID(ann), Email: ann, Name: "Ann", Topics: []string{"science"}, CreatedAt: testNow.Add(-time.Hour),
	}, Version: 1}
	r.Move(st, "test", testNow.Add(-time.Hour))
	s.recs[r.ID] = r
	return s
}

func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return eventstest.Load[events.APIGatewayV2HTTPRequest](t, "subscription-api-"+name+".json")
}

const (
	htmlType = "text/html; charset=utf-8"
	jsonType = "application/json; charset=utf-8"
)

func TestHandle(t *testing.T) {
	tests := []struct {
		event      string
		seed       gazette.SubscriberStatus
		wantStatus int
		wantType   string
		wantBody   []string // substrings of the body
		notBody    []string
		wantState  gazette.SubscriberStatus // ann's status afterwards
		wantMail   string                   // prefix of the mailed link, "" for no mail
		wantHeader map[string]string
	}{
		{event: "subscribe-form", wantStatus: 202, wantType: htmlType,
			wantBody: []string{"<h1>Check your inbox</h1>", "Gazette Test"}, wantState: gazette.SubscriberPending,
			wantMail: "https://abc123.execute-api.eu-west-1.amazonaws.com/confirm?token="},
		{event: "subscribe-form", seed: gazette.SubscriberConfirmed, wantStatus: 202, wantType: htmlType,
			wantBody: []string{"Check your inbox"}, wantState: gazette.SubscriberConfirmed,
			wantMail: "https://abc123.execute-api.eu-west-1.amazonaws.com/confirm?token="},
		{event: "subscribe-form", seed: gazette.SubscriberComplained, wantStatus: 202, wantType: htmlType,
			wantBody: []string{"Check your inbox"}, wantState: gazette.SubscriberComplained,
			wantMail: "https://abc123.execute-api.eu-west-1.amazonaws.com/confirm?token="},
		{event: "subscribe-json", wantStatus: 202, wantType: jsonType,
			wantBody: []string{`"status":"pending"`, `"message":"If the address can receive mail`}, wantState: gazette.SubscriberPending,
			wantMail: "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/confirm?token="},
		{event: "subscribe-invalid-email", wantStatus: 422, wantType: jsonType,
			wantBody: []string{`{"error":{"code":"email_invalid","message":"this does not look like an e-mail address"}}`}},
		{event: "subscribe-header-injection", wantStatus: 422, wantType: htmlType,
			wantBody: []string{"Unprocessable Entity", "line breaks"}},
		{event: "subscribe-unknown-topic", wantStatus: 422, wantType: htmlType, wantBody: []string{"unknown topic"}},
		{event: "subscribe-too-large", wantStatus: 413, wantType: htmlType, wantBody: []string{"too large"}},
		{event: "subscribe-unsupported-media-type", wantStatus: 415, wantType: htmlType, wantBody: []string{"application/x-www-form-urlencoded"}},
		{event: "subscribe-bad-json", wantStatus: 400, wantType: jsonType, wantBody: []string{`"code":"bad_json"`}},
		{event: "subscribe-wrong-method", wantStatus: 405, wantType: htmlType, wantHeader: map[string]string{"Allow": "POST"}},
		{event: "not-found", wantStatus: 404, wantType: htmlType, wantBody: []string{"no such page"}},

		{event: "confirm", seed: gazette.SubscriberPending, wantStatus: 200, wantType: htmlType,
			wantBody: []string{"You are subscribed", "is confirmed"}, wantState: gazette.SubscriberConfirmed},
		{event: "confirm", seed: gazette.SubscriberConfirmed, wantStatus: 200, wantType: htmlType,
			wantBody: []string{"already confirmed"}, wantState: gazette.SubscriberConfirmed},
		{event: "confirm", seed: gazette.SubscriberUnsubscribed, wantStatus: 409, wantType: htmlType,
			wantBody: []string{"sign up again"}, wantState: gazette.SubscriberUnsubscribed},
		{event: "confirm", wantStatus: 404, wantType: htmlType, wantBody: []string{"sign-up has expired"}},
		{event: "confirm-json", seed: gazette.SubscriberPending, wantStatus: 200, wantType: jsonType,
			wantBody: []string{`"status":"confirmed"`}, wantState: gazette.SubscriberConfirmed},
		{event: "confirm-tampered", seed: gazette.SubscriberPending, wantStatus: 400, wantType: htmlType,
			wantBody: []string{"link is not valid"}, wantState: gazette.SubscriberPending},
		{event: "confirm-expired", seed: gazette.SubscriberPending, wantStatus: 410, wantType: htmlType,
			wantBody: []string{"link has expired"}, wantState: gazette.SubscriberPending},
		{event: "confirm-wrong-purpose", seed: gazette.SubscriberPending, wantStatus: 400, wantType: htmlType,
			wantState: gazette.SubscriberPending},
		{event: "confirm-missing-token", wantStatus: 400, wantType: htmlType, wantBody: []string{"no token"}},

		{event: "unsubscribe-get", seed: gazette.SubscriberConfirmed, wantStatus: 200, wantType: htmlType,
			wantBody:  []string{`<form method="post" action="https://abc123.execute-api.eu-west-1.amazonaws.com/unsubscribe?token=cdT1X3L6Eo37RooaOQFQfHUAAAAA9IZXAMhTqvGLQL42y0szFwjIjNniwEFTr7IoiduM8pSZRZ4-">`, "<button"},
			wantState: gazette.SubscriberConfirmed},
		{event: "unsubscribe-one-click", seed: gazette.SubscriberConfirmed, wantStatus: 200, wantType: htmlType,
			wantBody: []string{"You are unsubscribed"}, wantState: gazette.SubscriberUnsubscribed},
		{event: "unsubscribe-one-click", seed: gazette.SubscriberUnsubscribed, wantStatus: 200, wantType: htmlType,
			wantBody: []string{"already unsubscribed"}, wantState: gazette.SubscriberUnsubscribed},
		{event: "unsubscribe-one-click", wantStatus: 200, wantType: htmlType},
		{event: "unsubscribe-one-click-multipart", seed: gazette.SubscriberConfirmed, wantStatus: 200, wantType: htmlType,
			wantState: gazette.SubscriberUnsubscribed},
		{event: "unsubscribe-button", seed: gazette.SubscriberPending, wantStatus: 200, wantType: htmlType,
			wantState: gazette.SubscriberUnsubscribed},

		{event: "preferences-get", seed: gazette.SubscriberConfirmed, wantStatus: 200, wantType: htmlType,
			wantBody:  []string{`value="Ann"`, `value="science" checked`, `value="sport">`, "/unsubscribe?token="},
			wantState: gazette.SubscriberConfirmed},
		{event: "preferences-post", seed: gazette.SubscriberConfirmed, wantStatus: 200, wantType: htmlType,
			wantBody:  []string{"preferences are saved", `value="Ann B."`, `value="culture" checked`, `value="science">`},
			wantState: gazette.SubscriberConfirmed},
		{event: "preferences-post-json", seed: gazette.SubscriberConfirmed, wantStatus: 200, wantType: jsonType,
			wantBody: []string{`"topics":["science","culture"]`, `"name":"Ann"`, `"availableTopics":["science","culture","sport"]`},
			notBody:  []string{"@"}, wantState: gazette.SubscriberConfirmed},
		{event: "preferences-unknown-subscriber", wantStatus: 404, wantType: htmlType, wantBody: []string{"no subscription"}},
	}
	for _, tt := range tests {
		name := tt.event
		if tt.seed != "" {
			name += "/" + string(tt.seed)
		}
		t.Run(name, func(t *testing.T) {
			st, box := seed(tt.seed), &mailbox{}
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			signer, err := token.NewSigner(testKey)
			if err != nil {
				t.Fatal(err)
			}
			h := &Handler{
				Service: subscription.New(st, box, signer, subscription.Config{
					Topics: []string{"science", "culture", "sport"},
					Now:    func() time.Time { return testNow },
					Logger: log,
				}),
				Publisher: "Gazette Test",
				Log:       log,
			}
			res, err := h.Handle(context.Background(), loadEvent(t, tt.event))
			if err != nil {
				t.Fatalf("Handle() error = %v", err)
			}
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d; body:\n%s", res.StatusCode, tt.wantStatus, res.Body)
			}
			if got := res.Headers["Content-Type"]; got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(res.Body, want) {
					t.Errorf("body lacks %q:\n%s", want, res.Body)
				}
			}
			for _, not := range tt.notBody {
				if strings.Contains(res.Body, not) {
					t.Errorf("body contains %q:\n%s", not, res.Body)
				}
			}
			for k, v := range tt.wantHeader {
				if res.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, res.Headers[k], v)
				}
			}
			if res.Headers["Referrer-Policy"] != "no-referrer" || res.Headers["Cache-Control"] != "no-store" {
				t.Errorf("missing privacy headers: %v", res.Headers)
			}
			if tt.wantType == jsonType && !json.Valid([]byte(res.Body)) {
				t.Errorf("invalid JSON body: %s", res.Body)
			}
			if got := st.status(ann); got != tt.wantState {
				t.Errorf("ann's status = %q, want %q", got, tt.wantState)
			}
			switch {
			case tt.wantMail == "" && len(box.sent) > 0:
				t.Errorf("mailed %+v, want no mail", box.sent)
			case tt.wantMail != "" && (len(box.sent) != 1 || !strings.HasPrefix(box.sent[0].url, tt.wantMail) || box.sent[0].to != ann):
				t.Errorf("mailed %+v, want one mail to ann with a link under %s", box.sent, tt.wantMail)
			}
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if line == "" {
					continue
				}
				if !json.Valid([]byte(line)) {
					t.Errorf("log line is not JSON: %s", line)
				}
				if strings.Contains(line, "@") {
					t.Errorf("log line contains an address: %s", line)
				}
			}
		})
	}
}

func TestOneClickRecordsReason(t *testing.T) {
	st := seed(gazette.SubscriberConfirmed)
	signer, _ := token.NewSigner(testKey)
	h := &Handler{Service: subscription.New(st, &mailbox{}, signer, subscription.Config{Now: func() time.Time { return testNow }})}
	if _, err := h.Handle(context.Background(), loadEvent(t, "unsubscribe-one-click")); err != nil {
		t.Fatal(err)
	}
	r := st.recs[gazette.SubscriberID(ann)]
	if got := r.History[len(r.History)-1]; got.Why != subscription.WhyOneClick || !got.At.Equal(testNow) {
		t.Errorf("last transition %+v, want one-click at %v", got, testNow)
	}
}

func TestHTMLEscapes(t *testing.T) {
	st := seed(gazette.SubscriberConfirmed)
	r := st.recs[gazette.SubscriberID(ann)]
	r.Name = `"><script>alert(1)</script>`
	st.recs[r.ID] = r
	signer, _ := token.NewSigner(testKey)
	h := &Handler{Service: subscription.New(st, &mailbox{}, signer, subscription.Config{Now: func() time.Time { return testNow }})}
	res, _ := h.Handle(context.Background(), loadEvent(t, "preferences-get"))
	if strings.Contains(res.Body, "<script>") || !strings.Contains(res.Body, "&lt;script&gt;") {
		t.Errorf("name not escaped:\n%s", res.Body)
	}
}

func TestWantsJSON(t *testing.T) {
	tests := []struct {
		accept   string
		jsonBody bool
		want     bool
	}{
		{"", false, false},
		{"", true, true},
		{"application/json", false, true},
		{"text/html", true, false},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true, false},
		{"application/json;q=0.5, text/html;q=0.4", false, true},
		{"application/problem+json", false, true},
		{"*/*", true, true},
		{"*/*", false, false},
	}
	for _, tt := range tests {
		if got := wantsJSON(tt.accept, tt.jsonBody); got != tt.want {
			t.Errorf("wantsJSON(%q, %v) = %v, want %v", tt.accept, tt.jsonBody, got, tt.want)
		}
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		name  string
		proto string
		stage string
		want  string
	}{
		{"default stage", "", "$default", "https://api.example"},
		{"named stage", "https", "prod", "https://api.example/prod"},
		{"local http", "http", "", "http://api.example"},
		{"unknown proto", "gopher", "", "https://api.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"X-Forwarded-Proto": tt.proto}}
			ev.RequestContext.DomainName, ev.RequestContext.Stage = "api.example", tt.stage
			if got := baseURL(ev, headerLookup(ev.Headers)); got != tt.want {
				t.Errorf("baseURL() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"SUBSCRIBERS_TABLE": "subs", "SENDER_ADDRESS": "news@example.com", "TOKEN_SECRET_ARN": "arn:secret",
		"TOPICS": " Science, culture ,,", "SIGNUP_MAIL_INTERVAL": "5m",
	}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"science", "culture"}, c.topics); diff != "" || c.mailInterval != 5*time.Minute || c.publisher != "Gazette" {
		t.Errorf("config %+v %s", c, diff)
	}
	delete(env, "SENDER_ADDRESS")
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "SENDER_ADDRESS") {
		t.Errorf("missing SENDER_ADDRESS: %v", err)
	}
}

func TestRedact(t *testing.T) {
	got := redact(`MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: ann@example.com, "Bob" <bob.b+x@sub.example.org>`)
	if strings.Contains(got, "@") {
		t.Errorf("redact left an address: %s", got)
	}
}
