package delivery

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
)

// fakeAccount is a QuotaSource whose SentLast24Hours grows with what a
// fake SES accepted (sent), as SES's own counter does.
type fakeAccount struct {
	mu    sync.Mutex
	max   float64
	sent  func() int
	other int // sent by other instances
	reads int
	err   error
}

func (a *fakeAccount) SendQuota(context.Context) (SendQuota, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reads++
	if a.err != nil {
		return SendQuota{}, a.err
	}
	return SendQuota{Max24HourSend: a.max, SentLast24Hours: float64(a.sent() + a.other)}, nil
}

func TestDailyQuotaTake(t *testing.T) {
	tests := []struct {
		name      string
		max       float64
		sentSES   int // SentLast24Hours at the first read
		reserve   int
		takes     []int
		advance   time.Duration // between takes
		wantOK    []bool
		wantReads int
	}{
		{name: "plenty left", max: 1000, reserve: 100, takes: []int{50, 50, 50}, wantOK: []bool{true, true, true}, wantReads: 1},
		{name: "stops before the reserve", max: 300, sentSES: 100, reserve: 100,
			takes: []int{50, 50, 50}, wantOK: []bool{true, true, false}, wantReads: 3},
		{name: "no daily limit", max: -1, reserve: 100, takes: []int{50, 50}, wantOK: []bool{true, true}, wantReads: 1},
		{name: "refreshes after Refresh", max: 100000, reserve: 100, takes: []int{50, 50, 50}, advance: time.Minute,
			wantOK: []bool{true, true, true}, wantReads: 3},
		{name: "peek with zero fails once used up", max: 200, sentSES: 160, reserve: 50, takes: []int{0}, wantOK: []bool{false}, wantReads: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			sent := tt.sentSES
			acct := &fakeAccount{max: tt.max, sent: func() int { return sent }}
			q := &DailyQuota{Source: acct, Reserve: tt.reserve, Near: 200, Refresh: time.Minute, Now: clock.Now}
			var got []bool
			for _, n := range tt.takes {
				err := q.Take(context.Background(), n)
				if err != nil && gazette.CodeOf(err) != CodeDailyQuota {
					t.Fatalf("Take(%d) = %v, want nil or code %s", n, err, CodeDailyQuota)
				}
				if err != nil && gazette.KindOf(err) != gazette.KindThrottled {
					t.Errorf("Take(%d) kind %s, want throttled (never a failed delivery)", n, gazette.KindOf(err))
				}
				if err == nil {
					sent += n // SES accepted them
				}
				got = append(got, err == nil)
				clock.advance(tt.advance)
			}
			if diff := cmp.Diff(tt.wantOK, got); diff != "" {
				t.Errorf("takes allowed (-want +got):\n%s", diff)
			}
			if acct.reads != tt.wantReads {
				t.Errorf("%d quota reads, want %d", acct.reads, tt.wantReads)
			}
		})
	}
}

// TestDailyQuotaSeed: a quota seeded with init's GetAccount answer is not
// read again until Refresh has passed, and the seeded figures count.
func TestDailyQuotaSeed(t *testing.T) {
	clock := newFakeClock()
	acct := &fakeAccount{max: 1000, sent: func() int { return 0 }}
	q := &DailyQuota{Source: acct, Reserve: 10, Refresh: time.Minute, Now: clock.Now}
	q.Seed(SendQuota{Max24HourSend: 100, SentLast24Hours: 60}, clock.Now())
	if err := q.Take(context.Background(), 30); err != nil {
		t.Fatalf("Take(30) within the seeded quota: %v", err)
	}
	if err := q.Take(context.Background(), 1); gazette.CodeOf(err) != CodeDailyQuota {
		t.Fatalf("Take(1) past the seeded quota = %v, want code %s", err, CodeDailyQuota)
	}
	if acct.reads != 0 {
		t.Fatalf("%d reads before Refresh, want 0", acct.reads)
	}
	clock.advance(time.Minute)
	if err := q.Take(context.Background(), 30); err != nil {
		t.Fatalf("Take(30) after a fresh read: %v", err)
	}
	if acct.reads != 1 {
		t.Errorf("%d reads after Refresh, want 1", acct.reads)
	}
}

func TestDailyQuotaReadError(t *testing.T) {
	acct := &fakeAccount{max: 100, sent: func() int { return 0 }, err: errors.New("GetAccount: 500")}
	q := &DailyQuota{Source: acct, Reserve: 10, Refresh: time.Minute, Now: newFakeClock().Now}
	err := q.Take(context.Background(), 1)
	if err == nil || gazette.CodeOf(err) == CodeDailyQuota {
		t.Fatalf("Take() = %v, want the read error (retried, not parked)", err)
	}
}

// TestSendBatchStopsBeforeDailyQuota: the quota runs out part-way through a
// batch; the chunks not sent are released, the batch is handed back with
// code CodeDailyQuota, and once the quota frees up (24 hours later) the
// same batch finishes with nobody sent twice and nobody skipped.
func TestSendBatchStopsBeforeDailyQuota(t *testing.T) {
	tests := []struct {
		name        string
		n, chunk    int
		max         float64
		reserve     int
		wantFirst   Result
		wantStates  []string
		wantSecond  Result
		sentAtFirst int
	}{
		{name: "quota ends between chunks", n: 10, chunk: 4, max: 10, reserve: 2,
			// 4 + 4 leave exactly the reserve; the third chunk would eat it.
			wantFirst: Result{Sent: 8, Retry: 2}, sentAtFirst: 8,
			wantStates: append(repeat(stSent, 8), repeat("", 2)...),
			wantSecond: Result{Sent: 2, Skipped: 8}},
		{name: "quota used up before the batch: nothing claimed", n: 5, chunk: 5, max: 1, reserve: 2,
			wantFirst: Result{Retry: 5}, sentAtFirst: 0,
			wantStates: repeat("", 5),
			wantSecond: Result{Sent: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, svc := newEnv(tt.n, tt.chunk)
			delivered := func() int {
				e.sender.mu.Lock()
				defer e.sender.mu.Unlock()
				n := 0
				for _, c := range e.sender.delivered {
					n += c
				}
				return n
			}
			acct := &fakeAccount{max: tt.max, sent: delivered}
			svc.Quota = &DailyQuota{Source: acct, Reserve: tt.reserve, Near: 1000, Refresh: time.Minute, Now: e.clock.Now}

			got, err := svc.SendBatch(context.Background(), e.batch)
			if gazette.CodeOf(err) != CodeDailyQuota || !gazette.Retryable(err) {
				t.Fatalf("SendBatch() = %v, want a retryable %s error", err, CodeDailyQuota)
			}
			if diff := cmp.Diff(tt.wantFirst, got); diff != "" {
				t.Errorf("first result (-want +got):\n%s", diff)
			}
			if delivered() != tt.sentAtFirst {
				t.Errorf("%d delivered before the quota, want %d", delivered(), tt.sentAtFirst)
			}
			if diff := cmp.Diff(tt.wantStates, e.ledger.states(e.batch.Issue, e.batch.Recipients)); diff != "" {
				t.Errorf("ledger states after the stop (-want +got):\n%s", diff)
			}

			// A day later the rolling 24 hours have room again.
			e.clock.advance(24 * time.Hour)
			acct.mu.Lock()
			acct.sent, acct.max = func() int { return 0 }, 1000
			acct.mu.Unlock()
			got, err = svc.SendBatch(context.Background(), e.batch)
			if err != nil {
				t.Fatalf("SendBatch() after the quota freed up: %v", err)
			}
			if diff := cmp.Diff(tt.wantSecond, got); diff != "" {
				t.Errorf("second result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(repeat(1, tt.n), e.deliveries()); diff != "" {
				t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
			}
		})
	}
}

// memHealth is a HealthStore over a map.
type memHealth struct {
	mu     sync.Mutex
	h      map[int]IssueHealth
	pauses int
}

func (m *memHealth) Health(_ context.Context, issue int) (IssueHealth, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.h[issue]
	if !ok {
		return h, gazette.Errorf(gazette.KindNotFound, "no_issue", "issue %d not found", issue)
	}
	return h, nil
}

func (m *memHealth) Pause(_ context.Context, issue int, reason string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.h[issue]
	if h.Paused {
		return false, nil
	}
	h.Paused, h.PauseReason = true, reason
	m.h[issue] = h
	m.pauses++
	return true, nil
}

func TestGuardDecide(t *testing.T) {
	g := &Guard{MaxBounceRate: 0.05, MaxComplaintRate: 0.001, MinSent: 100}
	tests := []struct {
		name       string
		h          IssueHealth
		wantPause  bool
		wantReason string // substring
	}{
		{name: "healthy", h: IssueHealth{Send: 1000, Bounce: 10, Complaint: 1}},
		{name: "bounce rate exactly at the limit is allowed", h: IssueHealth{Send: 1000, Bounce: 50}},
		{name: "bounce rate above 5%", h: IssueHealth{Send: 1000, Bounce: 51}, wantPause: true, wantReason: "bounce rate 5.10%"},
		{name: "complaint rate above 0.1%", h: IssueHealth{Send: 1000, Complaint: 2}, wantPause: true, wantReason: "complaint rate 0.200%"},
		{name: "too few reports to judge", h: IssueHealth{Send: 20, Bounce: 10}},
		{name: "deliveries and bounces count when send events are missing",
			h: IssueHealth{Delivery: 180, Bounce: 20}, wantPause: true, wantReason: "(20 of 200)"},
		{name: "already paused stays paused", h: IssueHealth{Paused: true, PauseReason: "bounce rate 9%"}, wantPause: true, wantReason: "bounce rate 9%"},
		{name: "after a resume only new reports count",
			h: IssueHealth{Send: 2000, Bounce: 80, BaseSent: 1000, BaseBounce: 70}},
		{name: "after a resume new bounces pause again",
			h: IssueHealth{Send: 2000, Bounce: 130, BaseSent: 1000, BaseBounce: 70}, wantPause: true, wantReason: "(60 of 1000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := g.Decide(tt.h)
			if v.Pause != tt.wantPause || !strings.Contains(v.Reason, tt.wantReason) {
				t.Errorf("Decide() = %+v, want pause %t with reason containing %q", v, tt.wantPause, tt.wantReason)
			}
		})
	}
}

// TestSendBatchReputationGuard: once an issue's bounce rate passes the
// limit, its remaining batches are not sent (nothing claimed), the issue is
// paused once, and other issues keep going.
func TestSendBatchReputationGuard(t *testing.T) {
	e, svc := newEnv(3, 50)
	var logs strings.Builder
	store := &memHealth{h: map[int]IssueHealth{
		3: {Send: 1000, Bounce: 80},
		4: {Send: 1000, Bounce: 10},
	}}
	svc.Guard = &Guard{Store: store, MaxBounceRate: 0.05, MaxComplaintRate: 0.001, MinSent: 100,
		Now: e.clock.Now, Log: slog.New(slog.NewJSONHandler(&logs, nil))}

	for range 2 {
		res, err := svc.SendBatch(context.Background(), e.batch)
		if gazette.CodeOf(err) != CodePaused {
			t.Fatalf("SendBatch() = %v, want code %s", err, CodePaused)
		}
		if diff := cmp.Diff(Result{Retry: 3}, res); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	}
	if len(e.sender.calls) != 0 {
		t.Errorf("%d SES calls for a paused issue", len(e.sender.calls))
	}
	if diff := cmp.Diff(repeat("", 3), e.ledger.states(3, e.batch.Recipients)); diff != "" {
		t.Errorf("ledger states (-want +got):\n%s", diff)
	}
	if store.pauses != 1 || strings.Count(logs.String(), `"msg":"issue paused"`) != 1 {
		t.Errorf("%d pauses, log %q; want one pause and one \"issue paused\" line", store.pauses, logs.String())
	}

	other := e.batch
	other.Issue = 4
	if _, err := svc.SendBatch(context.Background(), other); err != nil {
		t.Fatalf("healthy issue 4: %v", err)
	}
	if len(e.sender.calls) != 1 {
		t.Errorf("%d SES calls for the healthy issue, want 1", len(e.sender.calls))
	}
}

func TestGuardStoreErrors(t *testing.T) {
	tests := []struct {
		name    string
		store   *memHealth
		wantErr bool
	}{
		{name: "unknown issue is sent", store: &memHealth{h: map[int]IssueHealth{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Guard{Store: tt.store, MaxBounceRate: 0.05, MinSent: 1, Now: time.Now,
				Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			if err := g.Check(context.Background(), 9); (err != nil) != tt.wantErr {
				t.Errorf("Check() = %v, want error %t", err, tt.wantErr)
			}
		})
	}
}

// countingHealth counts Health reads of a memHealth.
type countingHealth struct {
	*memHealth
	reads int
}

func (c *countingHealth) Health(ctx context.Context, issue int) (IssueHealth, error) {
	c.reads++
	return c.memHealth.Health(ctx, issue)
}

// TestGuardCacheFor: a healthy verdict stands for CacheFor, then the
// counters are read again and a pause is seen; a pause is never cached.
func TestGuardCacheFor(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	store := &countingHealth{memHealth: &memHealth{h: map[int]IssueHealth{4: {Send: 200, Bounce: 1}}}}
	g := &Guard{Store: store, MaxBounceRate: 0.05, MinSent: 100, CacheFor: 10 * time.Second, Now: c.Now,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	steps := []struct {
		advance   time.Duration
		bounces   int // set before the step
		wantErr   bool
		wantReads int
	}{
		{wantReads: 1},
		{advance: 5 * time.Second, bounces: 50, wantReads: 1}, // cached: the new bounces are not seen yet
		{advance: 6 * time.Second, bounces: 50, wantErr: true, wantReads: 2},
		{advance: time.Second, bounces: 50, wantErr: true, wantReads: 3}, // paused: read again
	}
	for i, s := range steps {
		c.advance(s.advance)
		store.mu.Lock()
		h := store.h[4]
		h.Bounce = max(h.Bounce, s.bounces)
		store.h[4] = h
		store.mu.Unlock()
		err := g.Check(context.Background(), 4)
		if (err != nil) != s.wantErr {
			t.Errorf("step %d: Check() = %v, want error %t", i, err, s.wantErr)
		}
		if store.reads != s.wantReads {
			t.Errorf("step %d: %d reads, want %d", i, store.reads, s.wantReads)
		}
	}
}
