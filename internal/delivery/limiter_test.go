package delivery

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
)

// fakeClock is a Clock whose Sleep moves time forward at once; concurrent
// sleepers each move it to the end of their own sleep.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, time.November, 27, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sendLog is what a run of Waits let out, and when.
type sendLog struct {
	mu sync.Mutex
	at []time.Time
	n  []int
}

func (s *sendLog) add(t time.Time, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at, s.n = append(s.at, t), append(s.n, n)
}

// maxInWindow is the most messages in any half-open window [a, a+w). The
// busiest window starts at a send, so only those starts are checked.
func (s *sendLog) maxInWindow(w time.Duration) int {
	type ev struct {
		t time.Time
		n int
	}
	evs := make([]ev, len(s.at))
	for i := range s.at {
		evs[i] = ev{s.at[i], s.n[i]}
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })
	best := 0
	for i := range evs {
		sum := 0
		for j := i; j < len(evs) && evs[j].t.Before(evs[i].t.Add(w)); j++ {
			sum += evs[j].n
		}
		best = max(best, sum)
	}
	return best
}

func (s *sendLog) total() int {
	t := 0
	for _, n := range s.n {
		t += n
	}
	return t
}

func TestWindowLimiterNeverExceedsAnyWindow(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		chunks    func(r *rand.Rand) int // size of the next Wait
		calls     int
		startFull bool
		gaps      bool // idle now and then, so that windows refill
		// noRate skips the ≥ 90% check: random sizes fragment the window
		// (a chunk of 7 waits while 2 are free), which uniform chunks,
		// as the Service sends them, do not.
		noRate bool
	}{
		{name: "full chunks of 50 at 100 a window", limit: 100, chunks: func(*rand.Rand) int { return 50 }, calls: 400},
		{name: "chunk of 37 at 75 a window", limit: 75, chunks: func(*rand.Rand) int { return ChunkFor(75) }, calls: 400},
		{name: "single messages at 14 a window", limit: 14, chunks: func(*rand.Rand) int { return 1 }, calls: 2000},
		{name: "random sizes up to the limit", limit: 7, chunks: func(r *rand.Rand) int { return 1 + r.IntN(7) }, calls: 2000, noRate: true},
		{name: "random sizes with idle gaps", limit: 100, chunks: func(r *rand.Rand) int { return 1 + r.IntN(50) }, calls: 2000, gaps: true},
		{name: "start full", limit: 50, chunks: func(*rand.Rand) int { return 50 }, calls: 100, startFull: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			window := time.Second + WindowMargin
			l := NewWindowLimiter(tt.limit, window, clock, tt.startFull)
			r := rand.New(rand.NewPCG(1, uint64(tt.limit)))
			var log sendLog
			start := clock.Now()
			for range tt.calls {
				if tt.gaps && r.IntN(10) == 0 {
					clock.advance(time.Duration(r.IntN(1500)) * time.Millisecond)
				}
				n := tt.chunks(r)
				if err := l.Wait(context.Background(), n); err != nil {
					t.Fatal(err)
				}
				log.add(clock.Now(), n)
				// An SES call takes a little while.
				clock.advance(time.Duration(r.IntN(30)) * time.Millisecond)
			}
			if got := log.maxInWindow(time.Second); got > tt.limit {
				t.Errorf("%d messages in one 1 s window, limit %d", got, tt.limit)
			}
			if got := log.maxInWindow(window); got > tt.limit {
				t.Errorf("%d messages in one limiter window, limit %d", got, tt.limit)
			}
			if tt.startFull && log.at[0].Sub(start) < window {
				t.Errorf("first send %v after start, want a whole window (%v)", log.at[0].Sub(start), window)
			}
			if !tt.gaps && !tt.noRate {
				elapsed := log.at[len(log.at)-1].Sub(log.at[0]).Seconds()
				rate := float64(log.total()-log.n[len(log.n)-1]) / elapsed // the last chunk ends the span
				if rate < 0.9*float64(tt.limit) {
					t.Errorf("sustained %.1f a second, want ≥ 90%% of %d", rate, tt.limit)
				}
			}
		})
	}
}

func TestWindowLimiterConcurrentInstancesShareTheAccount(t *testing.T) {
	// C instances, each with floor(R/C) and its own clock (they share no
	// state, as Lambda environments do not), all starting at the same
	// moment: the account's rate holds for all of them together.
	const rate, concurrency = 200.0, 3
	per := PerInstance(rate, concurrency)
	var log sendLog
	var wg sync.WaitGroup
	for i := range concurrency {
		clock := newFakeClock()
		l := NewWindowLimiter(per, time.Second+WindowMargin, clock, i == 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				n := ChunkFor(per)
				if i == 1 {
					n = 1 + n/2
				}
				if err := l.Wait(context.Background(), n); err != nil {
					t.Error(err)
					return
				}
				log.add(clock.Now(), n)
				clock.advance(time.Duration(i) * 7 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if got := log.maxInWindow(time.Second); got > int(rate) {
		t.Errorf("%d messages in one second across %d instances of %d, account rate %v", got, concurrency, per, rate)
	}
}

func TestWindowLimiterErrors(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		ctx      func() context.Context
		fill     bool
		wantKind gazette.Kind
		wantErr  error
	}{
		{name: "more than a window can ever hold", n: 11, ctx: context.Background, wantKind: gazette.KindInvalid},
		{name: "cancelled while waiting", n: 5, fill: true, ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, wantErr: context.Canceled},
		{name: "zero is free", n: 0, fill: true, ctx: context.Background},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewWindowLimiter(10, time.Second, newFakeClock(), tt.fill)
			err := l.Wait(tt.ctx(), tt.n)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Wait() = %v, want %v", err, tt.wantErr)
				}
			case tt.wantKind != gazette.KindUnknown:
				if gazette.KindOf(err) != tt.wantKind {
					t.Errorf("Wait() = %v, want kind %s", err, tt.wantKind)
				}
			case err != nil:
				t.Errorf("Wait() = %v", err)
			}
		})
	}
}

func TestWindowLimiterWaitsExactlyForTheOldestGrant(t *testing.T) {
	clock := newFakeClock()
	l := NewWindowLimiter(10, time.Second, clock, false)
	start := clock.Now()
	var got []time.Duration
	for _, n := range []int{4, 6, 3, 7, 10} {
		if err := l.Wait(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		got = append(got, clock.Now().Sub(start))
		clock.advance(100 * time.Millisecond)
	}
	// 4 and 6 fill the first window; 3 waits for the 4 to expire (t=1s),
	// 7 for the 6 (t=1.1s), 10 for both of them (t=2.1s).
	want := []time.Duration{0, 100 * time.Millisecond, time.Second, 1100 * time.Millisecond, 2100 * time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("grant times (-want +got):\n%s", diff)
	}
}

func TestPerInstanceAndChunk(t *testing.T) {
	tests := []struct {
		name        string
		rate        float64
		concurrency int
		wantPer     int
		wantChunk   int
	}{
		{name: "starting quota 14 over 2", rate: 14, concurrency: 2, wantPer: 7, wantChunk: 7},
		{name: "200 over 2", rate: 200, concurrency: 2, wantPer: 100, wantChunk: 50},
		{name: "150 over 2 fills the window with two chunks", rate: 150, concurrency: 2, wantPer: 75, wantChunk: 37},
		{name: "fractional share rounds down", rate: 15, concurrency: 2, wantPer: 7, wantChunk: 7},
		{name: "less than one a second is one", rate: 1, concurrency: 2, wantPer: 1, wantChunk: 1},
		{name: "1000 over 4", rate: 1000, concurrency: 4, wantPer: 250, wantChunk: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			per := PerInstance(tt.rate, tt.concurrency)
			if per != tt.wantPer {
				t.Errorf("PerInstance(%v, %d) = %d, want %d", tt.rate, tt.concurrency, per, tt.wantPer)
			}
			if got := ChunkFor(per); got != tt.wantChunk {
				t.Errorf("ChunkFor(%d) = %d, want %d", per, got, tt.wantChunk)
			}
		})
	}
}
