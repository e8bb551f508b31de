package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

// CodePaused is the gazette error code of a batch whose issue is paused by
// the reputation guard: the caller parks the batch (send DLQ, reason
// "paused") until an operator runs `gazette issue resume`.
const CodePaused = "issue_paused"

// IssueHealth is what SES feedback counted for one issue (the Issues
// item's stat_<event> counters), and the guard's state for it.
type IssueHealth struct {
	Send, Delivery, Bounce, Complaint int

	Paused      bool
	PauseReason string
	// Counters as they were at the last resume: the guard judges only what
	// happened since, or a resumed issue would pause again at once on the
	// numbers the operator already looked at.
	BaseSent, BaseBounce, BaseComplaint int
}

// Sent is how many of the issue's messages SES reported on: its send
// events, or deliveries and bounces where send events are not published.
func (h IssueHealth) Sent() int { return max(h.Send, h.Delivery+h.Bounce) }

// HealthStore reads an issue's health and pauses it.
type HealthStore interface {
	Health(ctx context.Context, issue int) (IssueHealth, error)
	// Pause marks the issue paused; pausing a paused issue is no error and
	// reports false.
	Pause(ctx context.Context, issue int, reason string, at time.Time) (bool, error)
}

// Guard is the reputation guard: it pauses an issue whose hard-bounce rate
// or complaint rate passes its limit while the issue is being sent, so that
// a bad list or a bad issue cannot take the account's reputation with it
// (SES reviews accounts from 5% bounces and 0.1% complaints).
type Guard struct {
	Store            HealthStore
	MaxBounceRate    float64 // e.g. 0.05
	MaxComplaintRate float64 // e.g. 0.001
	// MinSent is how many reported messages (since the last resume) the
	// rates need before they mean anything: one bounce among the first ten
	// mails is not 10% of a list.
	MinSent int
	// CacheFor is how long a healthy verdict stands before the issue's
	// counters are read again (0: every batch; send-batch uses
	// HealthyFor). SES feedback reaches the
	// counters seconds to minutes after the mail, so a few seconds more
	// changes little, and a read per batch is one more DynamoDB call per
	// SES call. A paused verdict is never cached.
	CacheFor time.Duration
	Now      func() time.Time
	Log      *slog.Logger

	mu      sync.Mutex
	healthy map[int]time.Time // issue → healthy verdict good until
}

// Verdict is the guard's decision on one issue.
type Verdict struct {
	Pause  bool
	Reason string
}

// Decide is the guard's rule, without I/O.
func (g *Guard) Decide(h IssueHealth) Verdict {
	if h.Paused {
		return Verdict{Pause: true, Reason: h.PauseReason}
	}
	sent := h.Sent() - h.BaseSent
	if sent < max(g.MinSent, 1) {
		return Verdict{}
	}
	bounce := float64(h.Bounce-h.BaseBounce) / float64(sent)
	complaint := float64(h.Complaint-h.BaseComplaint) / float64(sent)
	switch {
	case g.MaxBounceRate > 0 && bounce > g.MaxBounceRate:
		return Verdict{Pause: true, Reason: fmt.Sprintf("bounce rate %.2f%% (%d of %d) above %.2f%%",
			100*bounce, h.Bounce-h.BaseBounce, sent, 100*g.MaxBounceRate)}
	case g.MaxComplaintRate > 0 && complaint > g.MaxComplaintRate:
		return Verdict{Pause: true, Reason: fmt.Sprintf("complaint rate %.3f%% (%d of %d) above %.3f%%",
			100*complaint, h.Complaint-h.BaseComplaint, sent, 100*g.MaxComplaintRate)}
	}
	return Verdict{}
}

// HealthyFor is how long send-batch lets a healthy verdict stand.
const HealthyFor = 10 * time.Second

// healthyUntil caches a healthy verdict on issue (with CacheFor set).
func (g *Guard) healthyUntil(issue int, until time.Time) {
	if g.CacheFor <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.healthy == nil {
		g.healthy = map[int]time.Time{}
	}
	g.healthy[issue] = until
}

// Check returns nil when the issue may be sent, and a gazette.KindThrottled
// error with code CodePaused when it is paused (pausing it now if its rates
// just passed a limit). The first pause logs "issue paused", which the
// template's metric filter turns into the IssuePaused alarm.
func (g *Guard) Check(ctx context.Context, issue int) error {
	now := g.Now()
	g.mu.Lock()
	until, cached := g.healthy[issue]
	g.mu.Unlock()
	if cached && now.Before(until) {
		return nil
	}
	h, err := g.Store.Health(ctx, issue)
	if gazette.KindOf(err) == gazette.KindNotFound {
		// No stats yet (or an issue this table does not know): healthy.
		g.healthyUntil(issue, now.Add(g.CacheFor))
		return nil
	}
	if err != nil {
		return fmt.Errorf("reputation guard: %w", err)
	}
	v := g.Decide(h)
	if !v.Pause {
		g.healthyUntil(issue, now.Add(g.CacheFor))
		return nil
	}
	if !h.Paused {
		first, err := g.Store.Pause(ctx, issue, v.Reason, g.Now().UTC())
		if err != nil {
			return fmt.Errorf("reputation guard: %w", err)
		}
		if first {
			g.Log.WarnContext(ctx, "issue paused", "issue", issue, "reason", v.Reason,
				"sent", h.Sent(), "bounce", h.Bounce, "complaint", h.Complaint)
		}
	}
	return gazette.Errorf(gazette.KindThrottled, CodePaused, "issue %d paused: %s", issue, v.Reason)
}
