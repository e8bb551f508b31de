package subscription

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/token"
)

// memStore is an in-memory Store with the same optimistic lock as the
// DynamoDB one.
type memStore struct {
	mu      sync.Mutex
	recs    map[string]Record
	saves   int
	failErr error // returned by the next Save, once
	races   int   // how many Saves lose a race before succeeding
}

func newMemStore() *memStore { return &memStore{recs: map[string]Record{}} }

func clone(r Record) Record {
	r.Topics = slices.Clone(r.Topics)
	r.History = slices.Clone(r.History)
	return r
}

func (m *memStore) Load(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[id]
	if !ok {
		return Record{}, gazette.Errorf(gazette.KindNotFound, "subscriber_not_found", "no %s", id)
	}
	return clone(r), nil
}

func (m *memStore) Save(_ context.Context, r Record, prev int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failErr; err != nil {
		m.failErr = nil
		return err
	}
	if m.races > 0 {
		m.races--
		return gazette.Errorf(gazette.KindConflict, "race", "lost a race")
	}
	if cur, ok := m.recs[r.ID]; (ok && cur.Version != prev) || (!ok && prev != 0) {
		return gazette.Errorf(gazette.KindConflict, "version", "version %d, want %d", cur.Version, prev)
	}
	r.Version = prev + 1
	m.recs[r.ID] = clone(r)
	m.saves++
	return nil
}

func (m *memStore) get(t *testing.T, email string) Record {
	t.Helper()
	r, err := m.Load(context.Background(), gazette.SubscriberID(email))
	if err != nil {
		t.Fatalf("no record for %s: %v", email, err)
	}
	return r
}

// sentMail is one confirmation mail.
type sentMail struct{ To, Name, URL string }

// memMailer records mails; err, when set, fails every send.
type memMailer struct {
	mu   sync.Mutex
	sent []sentMail
	err  error
}

func (m *memMailer) SendConfirmation(_ context.Context, to, name, u string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.sent = append(m.sent, sentMail{to, name, u})
	return nil
}

func (m *memMailer) last(t *testing.T) sentMail {
	t.Helper()
	if len(m.sent) == 0 {
		t.Fatal("no mail sent")
	}
	return m.sent[len(m.sent)-1]
}

// tokenOf returns the token query parameter of a link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time            { return c.t }
func (c *clock) Advance(d time.Duration)   { c.t = c.t.Add(d) }
func (c *clock) Set(t time.Time) time.Time { c.t = t; return t }

var (
	keyOld = bytes.Repeat([]byte{'o'}, 32)
	keyNew = bytes.Repeat([]byte{'n'}, 32)
	start  = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	topics = []string{"science", "culture", "sport"}
)

const base = "https://news.example"

type fixture struct {
	svc    *Service
	store  *memStore
	mail   *memMailer
	clock  *clock
	signer *token.Signer
	logs   *bytes.Buffer
}

func newFixture(t *testing.T, keys ...[]byte) *fixture {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{keyOld}
	}
	signer, err := token.NewSigner(keys...)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: newMemStore(), mail: &memMailer{}, clock: &clock{t: start}, signer: signer, logs: &bytes.Buffer{}}
	f.svc = New(f.store, f.mail, signer, Config{
		Topics: topics,
		Now:    f.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
	})
	return f
}

func (f *fixture) subscribe(t *testing.T, email, name string, topics ...string) {
	t.Helper()
	if err := f.svc.Subscribe(context.Background(), base, SignUp{Email: email, Name: name, Topics: topics}); err != nil {
		t.Fatalf("Subscribe(%s): %v", email, err)
	}
}

func (f *fixture) sign(t *testing.T, email string, p token.Purpose, ttl time.Duration) string {
	t.Helper()
	tok, err := f.signer.Sign(gazette.SubscriberID(email), p, f.clock.Now().Add(ttl))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var errBoom = errors.New("boom")
