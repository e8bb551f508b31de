package delivery

import (
	"context"

	"golang.org/x/time/rate"
)

// RateLimiter paces one instance's sends with a token bucket.
type RateLimiter struct{ l *rate.Limiter }

// NewRateLimiter allows perSecond messages a second with bursts of burst
// messages (at least one).
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	return &RateLimiter{l: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))}
}

// Wait blocks until n messages may be sent.
func (r *RateLimiter) Wait(ctx context.Context, n int) error { return r.l.WaitN(ctx, n) }
