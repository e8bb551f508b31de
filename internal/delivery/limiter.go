package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

// Clock is the limiter's time source; tests inject a fake one whose Sleep
// only moves time forward.
type Clock interface {
	Now() time.Time
	// Sleep returns after d, or early with ctx's error.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WindowLimiter paces one instance's sends so that no window of Window
// length ever holds more than Limit messages: a sliding-window log of the
// grants it made. Unlike a token bucket, whose burst refills while the
// bucket idles and whose average only holds in the long run, this bounds
// every window, including across a chunk that goes out right at the start
// of a new second.
//
// # Across instances
//
// SES's MaxSendRate is per account; send-batch runs as up to C concurrent
// Lambda invocations, C being the SQS event source's MaximumConcurrency
// (template parameter MaxSendConcurrency, passed as SEND_CONCURRENCY). Each
// instance gets Limit = floor(MaxSendRate / C) per window, so in any one
// second the C instances together send at most C × Limit ≤ MaxSendRate. No
// coordination between instances is needed, and nothing is shared that
// could fail or cost a write per chunk (a DynamoDB counter per second would
// do both, and fixed per-second counters still allow 2× at a boundary).
//
// Two things could add a sender the bound does not count, and both are
// covered:
//   - An execution environment that dies (crash, timeout) is replaced by a
//     fresh one with an empty log while its predecessor's last second may
//     still be in the window. NewWindowLimiter with startFull makes a new
//     instance behave as if it had just used its whole window: its first
//     send waits one window after init. That costs one second per cold
//     start, and cold starts are rare.
//   - Lambda may run an invocation on another warm environment than the
//     last one; it keeps at most C environments warm for a function only
//     this event source invokes, so each one is a sender of the C counted.
//
// Window is a little longer than one second (WindowMargin), so that network
// jitter between our clock and the moment SES counts a message cannot make
// two chunks that were a window apart here land inside one second there.
// SES's own throttling stays the backstop: a throttled answer releases the
// claims and retries later, never counts as a failure.
type WindowLimiter struct {
	limit  int
	window time.Duration
	clock  Clock

	mu     sync.Mutex
	grants []grant // oldest first, all within the last window
	used   int     // sum of grants[i].n
}

type grant struct {
	at time.Time
	n  int
}

// WindowMargin is added to one second to make the limiter's window; it
// costs 2% of the rate.
const WindowMargin = 20 * time.Millisecond

// NewWindowLimiter allows limit messages in any window of length window.
// With startFull the first window is taken as used up at creation (see the
// type's comment on replaced instances).
func NewWindowLimiter(limit int, window time.Duration, clock Clock, startFull bool) *WindowLimiter {
	l := &WindowLimiter{limit: max(limit, 1), window: window, clock: clock}
	if startFull {
		l.grants = []grant{{at: clock.Now(), n: l.limit}}
		l.used = l.limit
	}
	return l
}

// Wait blocks until n more messages may be sent without any window holding
// more than the limit, and records them as sent at that moment. n above the
// limit could never be granted: it is a gazette.KindInvalid error.
func (l *WindowLimiter) Wait(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	if n > l.limit {
		return gazette.Errorf(gazette.KindInvalid, "chunk_too_large",
			"rate limiter: %d messages at once exceed the %d a window allows", n, l.limit)
	}
	for {
		d := l.try(n)
		if d == 0 {
			return nil
		}
		if err := l.clock.Sleep(ctx, d); err != nil {
			return fmt.Errorf("rate limiter: %w", err)
		}
	}
}

// try grants n now and returns 0, or returns how long to wait until enough
// of the window has expired.
func (l *WindowLimiter) try(n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	// A grant at time t counts in every window (now-window, now] with
	// t > now-window; at now = t+window it no longer does.
	drop := 0
	for drop < len(l.grants) && !l.grants[drop].at.Add(l.window).After(now) {
		l.used -= l.grants[drop].n
		drop++
	}
	l.grants = l.grants[drop:]
	if l.used+n <= l.limit {
		l.grants = append(l.grants, grant{at: now, n: n})
		l.used += n
		return 0
	}
	// Wait for the oldest grants to expire until n fits.
	free := l.limit - l.used
	for _, g := range l.grants {
		free += g.n
		if free >= n {
			return max(g.at.Add(l.window).Sub(now), time.Nanosecond)
		}
	}
	return l.window // unreachable: n ≤ limit
}

// PerInstance splits the account's rate between concurrency instances:
// whole messages per window, at least one (see WindowLimiter for why the
// floor keeps the sum under the account's rate).
func PerInstance(maxSendRate float64, concurrency int) int {
	return max(1, int(maxSendRate/float64(max(concurrency, 1))))
}

// ChunkFor is the SES call size for a per-instance limit: at most
// gazette.MaxBatchRecipients, and a divisor-like share of the limit so that
// whole chunks fill the window (a limit of 75 sends 37 + 37, not 50 and a
// wait for the next window).
func ChunkFor(limit int) int {
	if limit <= gazette.MaxBatchRecipients {
		return max(limit, 1)
	}
	calls := (limit + gazette.MaxBatchRecipients - 1) / gazette.MaxBatchRecipients
	return limit / calls
}
