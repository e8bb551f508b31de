package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

// SendQuota is the account's 24-hour sending quota (SES GetAccount).
type SendQuota struct {
	Max24HourSend   float64 // ≤ 0: no daily limit
	SentLast24Hours float64
}

// QuotaSource reads the account's current quota.
type QuotaSource interface {
	SendQuota(ctx context.Context) (SendQuota, error)
}

// CodeDailyQuota is the gazette error code of a batch stopped before the
// 24-hour quota: the caller hands it back for later, it is not a failure.
const CodeDailyQuota = "daily_quota"

// DailyQuota stops sending before the account's 24-hour quota runs out.
//
// It re-reads the quota every Refresh, and before every chunk once fewer
// than Near messages are left, adding what this instance sent since the
// last read. It refuses a chunk that would leave fewer than Reserve
// messages of the quota: the instances running at once each send at most
// one chunk the others have not seen yet, so Reserve = concurrency ×
// chunk keeps all of them under the quota together.
type DailyQuota struct {
	Source  QuotaSource
	Reserve int
	Near    int
	Refresh time.Duration
	Now     func() time.Time

	mu     sync.Mutex
	last   SendQuota
	readAt time.Time // zero: never read
	since  int       // sent by this instance since readAt
}

// Seed gives q a quota already read at time at, so that the first Take does
// not read it again: send-batch reads GetAccount at init for the send rate,
// and the same answer holds the daily quota.
func (q *DailyQuota) Seed(sq SendQuota, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.last, q.readAt, q.since = sq, at, 0
}

// Take reserves n messages of the quota, or returns a gazette.KindThrottled
// error with code CodeDailyQuota when sending them would pass the quota
// (less the reserve). An error reading the quota is returned as is.
func (q *DailyQuota) Take(ctx context.Context, n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.Now()
	stale := q.readAt.IsZero() || now.Sub(q.readAt) >= q.Refresh
	if !stale && q.last.Max24HourSend > 0 && q.remaining() < float64(q.Near) {
		stale = true
	}
	if stale {
		sq, err := q.Source.SendQuota(ctx)
		if err != nil {
			return fmt.Errorf("daily quota: %w", err)
		}
		q.last, q.readAt, q.since = sq, now, 0
	}
	if q.last.Max24HourSend <= 0 {
		q.since += n
		return nil
	}
	if left := q.remaining(); left-float64(n) < float64(q.Reserve) {
		return gazette.Errorf(gazette.KindThrottled, CodeDailyQuota,
			"24-hour quota nearly used: %.0f of %.0f sent, %d more would leave less than the reserve of %d",
			q.last.SentLast24Hours+float64(q.since), q.last.Max24HourSend, n, q.Reserve)
	}
	q.since += n
	return nil
}

// Give returns n messages Take reserved but that were not sent.
func (q *DailyQuota) Give(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.since = max(0, q.since-n)
}

func (q *DailyQuota) remaining() float64 {
	return q.last.Max24HourSend - q.last.SentLast24Hours - float64(q.since)
}
