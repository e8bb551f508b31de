package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/mergetag"
)

// ---- fakes -----------------------------------------------------------------

// Ledger record states, as the DynamoDB ledger names them.
const (
	stSent       = "sent"
	stFailed     = "failed"
	stSuppressed = "suppressed"
)

type record struct {
	state     string
	messageID string
	reason    string
}

// claim is a batch item: its claim, held (with owner and lease), open, or
// done for the recipients hashed in hash, and its recipients' records.
type claim struct {
	state      string // "held", "open", "done"
	owner      string
	leaseUntil time.Time
	hash       string
	recs       map[string]record
}

// memLedger is an in-memory Ledger with the DynamoDB ledger's rules: a
// batch may be claimed when absent, open, held past its lease, or done for
// other recipients; Record is all or nothing and writes its outcomes even
// when the claim was lost.
type memLedger struct {
	mu     sync.Mutex
	claims map[string]*claim
	// recordFails makes this many Record calls fail without writing.
	recordFails int
	// calls counts ledger calls by method.
	calls map[string]int
}

func newLedger() *memLedger {
	return &memLedger{claims: map[string]*claim{}, calls: map[string]int{}}
}

func claimKey(k BatchKey) string { return fmt.Sprintf("%d/batch/%d", k.Issue, k.Batch) }

func (l *memLedger) item(k BatchKey) *claim {
	c, ok := l.claims[claimKey(k)]
	if !ok {
		c = &claim{recs: map[string]record{}}
		l.claims[claimKey(k)] = c
	}
	return c
}

func (l *memLedger) Claim(_ context.Context, k BatchKey, owner string, _ int, now time.Time, lease time.Duration) (ClaimState, map[string]ClaimState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls["Claim"]++
	c := l.item(k)
	switch {
	case c.state == "", c.state == "open", c.state == "held" && c.leaseUntil.Before(now), c.state == "done" && c.hash != k.Hash:
		c.state, c.owner, c.leaseUntil, c.hash = "held", owner, now.Add(lease), k.Hash
		known := map[string]ClaimState{}
		for id, r := range c.recs {
			known[id] = map[string]ClaimState{stSent: Sent, stFailed: Failed, stSuppressed: Suppressed}[r.state]
		}
		return Claimed, known, nil
	case c.state == "held":
		return InFlight, nil, nil
	case c.state == "done":
		return Done, nil, nil
	}
	return 0, nil, fmt.Errorf("bad claim state %q", c.state)
}

func (l *memLedger) Record(_ context.Context, k BatchKey, owner string, rs []Record, rel Release) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls["Record"]++
	if l.recordFails > 0 {
		l.recordFails--
		return errors.New("ledger write timed out")
	}
	c := l.item(k)
	for _, r := range rs {
		switch r.State {
		case Sent:
			c.recs[r.Recipient] = record{state: stSent, messageID: r.MessageID}
		case Failed:
			c.recs[r.Recipient] = record{state: stFailed, reason: r.Reason}
		case Suppressed:
			c.recs[r.Recipient] = record{state: stSuppressed}
		default:
			return fmt.Errorf("cannot record state %d", r.State)
		}
	}
	if c.state != "held" || c.owner != owner {
		return gazette.Errorf(gazette.KindConflict, "claim_lost", "ledger: %s is not held by %s", claimKey(k), owner)
	}
	if rel.End {
		c.state, c.owner = "open", ""
		if rel.Done {
			c.state = "done"
		}
	}
	return nil
}

// states is each recipient's record state in any batch of the issue.
func (l *memLedger) states(issue int, rs []gazette.Recipient) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s []string
	for _, r := range rs {
		st := ""
		for k, c := range l.claims {
			if strings.HasPrefix(k, fmt.Sprintf("%d/", issue)) && c.recs[r.SubscriberID].state != "" {
				st = c.recs[r.SubscriberID].state
			}
		}
		s = append(s, st)
	}
	return s
}

// record of recipient in the batch e sends.
func (e *env) record(r gazette.Recipient) record {
	e.ledger.mu.Lock()
	defer e.ledger.mu.Unlock()
	return e.ledger.item(KeyOf(e.batch)).recs[r.SubscriberID]
}

type bulkCall struct {
	Template string
	Tags     map[string]string
	Shared   []Header
	Msgs     []Message
}

// fakeSender records calls. callErrs[i] fails call i (0-based) as a whole;
// entryErrs fails one address in every call it appears in.
type fakeSender struct {
	mu        sync.Mutex
	calls     []bulkCall
	callErrs  map[int]error
	entryErrs map[string]error
	delivered map[string]int // accepted messages per address
	ids       map[string][]string
}

func newSender() *fakeSender {
	return &fakeSender{callErrs: map[int]error{}, entryErrs: map[string]error{}, delivered: map[string]int{}, ids: map[string][]string{}}
}

func (f *fakeSender) SendBulk(_ context.Context, template string, tags map[string]string, shared []Header, msgs []Message) ([]Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	f.calls = append(f.calls, bulkCall{Template: template, Tags: maps.Clone(tags), Shared: slices.Clone(shared), Msgs: slices.Clone(msgs)})
	if err := f.callErrs[n]; err != nil {
		return nil, err
	}
	out := make([]Outcome, len(msgs))
	for i, m := range msgs {
		if err := f.entryErrs[m.To]; err != nil {
			out[i] = Outcome{Err: err}
			continue
		}
		f.delivered[m.To]++
		id := fmt.Sprintf("ses-%d-%d", n, i)
		f.ids[m.To] = append(f.ids[m.To], id)
		out[i] = Outcome{MessageID: id}
	}
	return out, nil
}

func (f *fakeSender) callSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []int
	for _, c := range f.calls {
		s = append(s, len(c.Msgs))
	}
	return s
}

// countingLimiter records what it was asked for; err fails every Wait.
type countingLimiter struct {
	mu  sync.Mutex
	ns  []int
	err error
}

func (l *countingLimiter) Wait(_ context.Context, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ns = append(l.ns, n)
	return l.err
}

type fakeLinks struct{ err map[string]error }

func (f fakeLinks) UnsubscribeURL(id string) (string, error) {
	if err := f.err[id]; err != nil {
		return "", err
	}
	return "https://news.example/unsubscribe?t=u-" + id, nil
}

func (f fakeLinks) PreferencesURL(id string) (string, error) {
	return "https://news.example/preferences?t=p-" + id, nil
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ---- fixture ---------------------------------------------------------------

const lease = 2 * time.Minute

type env struct {
	ledger  *memLedger
	sender  *fakeSender
	limiter *countingLimiter
	links   fakeLinks
	clock   *clock
	batch   gazette.SendBatch
}

func newEnv(n, chunk int) (*env, *Service) {
	e := &env{
		ledger: newLedger(), sender: newSender(), limiter: &countingLimiter{},
		links: fakeLinks{err: map[string]error{}},
		clock: &clock{t: time.Date(2026, time.November, 27, 8, 0, 0, 0, time.UTC)},
		batch: gazette.SendBatch{Issue: 3, Batch: 2, Template: "gazette-issue-3", Recipients: recipients(n)},
	}
	svc := &Service{
		Ledger: e.ledger, Sender: e.sender, Limiter: e.limiter, Links: e.links, Chunk: chunk,
		Lease: lease, Now: e.clock.Now, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	return e, svc
}

func recipients(n int) []gazette.Recipient {
	var rs []gazette.Recipient
	for i := range n {
		email := fmt.Sprintf("r%02d@example.com", i)
		rs = append(rs, gazette.Recipient{SubscriberID: gazette.SubscriberID(email), Email: email, Name: fmt.Sprintf("R%d", i)})
	}
	return rs
}

func (e *env) email(i int) string { return e.batch.Recipients[i].Email }

func (e *env) deliveries() []int {
	var d []int
	for _, r := range e.batch.Recipients {
		d = append(d, e.sender.delivered[r.Email])
	}
	return d
}

func repeat[T any](v T, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// step is one SendBatch call of a scenario, after moving the clock.
type step struct {
	advance  time.Duration
	prepare  func(e *env)
	want     Result
	wantErr  bool
	wantKind gazette.Kind // checked when wantErr
}

// ---- tests -----------------------------------------------------------------

func TestSendBatch(t *testing.T) {
	throttled := gazette.Errorf(gazette.KindThrottled, "throttled", "maximum sending rate exceeded")
	tests := []struct {
		name           string
		n, chunk       int
		setup          func(e *env)
		steps          []step
		wantStates     []string
		wantDeliveries []int // accepted sends per recipient over all steps
		wantCalls      []int // recipients per SES call over all steps
		wantLimiter    []int // what Limiter.Wait was asked for; wantCalls when nil
	}{
		{
			name: "all sent, then a redelivery sends nobody again",
			n:    5, chunk: 50,
			steps: []step{
				{want: Result{Sent: 5}},
				{advance: time.Minute, want: Result{Skipped: 5}},
				{advance: time.Hour, want: Result{Skipped: 5}},
			},
			wantStates:     repeat(stSent, 5),
			wantDeliveries: repeat(1, 5),
			wantCalls:      []int{5},
		},
		{
			// Another invocation holds the batch (SQS delivered it twice);
			// it recorded one recipient and died. After its lease we take
			// over and skip whoever it recorded.
			name: "batch in flight elsewhere is retried whole, then taken over after the lease",
			n:    4, chunk: 50,
			setup: func(e *env) {
				k := KeyOf(e.batch)
				r := e.batch.Recipients[2]
				e.ledger.claims[claimKey(k)] = &claim{state: "held", owner: "other", leaseUntil: e.clock.Now().Add(time.Minute), hash: k.Hash,
					recs: map[string]record{r.SubscriberID: {state: stSent, messageID: "elsewhere"}}}
				e.sender.delivered[r.Email], e.sender.ids[r.Email] = 1, []string{"elsewhere"}
			},
			steps: []step{
				{want: Result{Retry: 4}, wantErr: true, wantKind: gazette.KindThrottled},
				{advance: 2 * time.Minute, want: Result{Sent: 3, Skipped: 1}},
			},
			wantStates:     repeat(stSent, 4),
			wantDeliveries: []int{1, 1, 1, 1},
			wantCalls:      []int{3},
		},
		{
			name: "whole call throttled releases everyone and the retry sends each once",
			n:    6, chunk: 50,
			setup: func(e *env) { e.sender.callErrs[0] = throttled },
			steps: []step{
				{want: Result{Retry: 6}, wantErr: true, wantKind: gazette.KindThrottled},
				{advance: time.Second, want: Result{Sent: 6}},
				{advance: time.Second, want: Result{Skipped: 6}},
			},
			wantStates:     repeat(stSent, 6),
			wantDeliveries: repeat(1, 6),
			wantCalls:      []int{6, 6},
		},
		{
			name: "throttled first chunk releases the chunks not attempted too",
			n:    5, chunk: 2,
			setup: func(e *env) { e.sender.callErrs[0] = throttled },
			steps: []step{
				{want: Result{Retry: 5}, wantErr: true, wantKind: gazette.KindThrottled},
				// No lease to wait out: released records are claimable at once.
				{want: Result{Sent: 5}},
			},
			wantStates:     repeat(stSent, 5),
			wantDeliveries: repeat(1, 5),
			wantCalls:      []int{2, 2, 2, 1},
		},
		{
			name: "throttled second chunk keeps the first chunk sent",
			n:    5, chunk: 2,
			setup: func(e *env) { e.sender.callErrs[1] = throttled },
			steps: []step{
				{want: Result{Sent: 2, Retry: 3}, wantErr: true, wantKind: gazette.KindThrottled},
				{want: Result{Sent: 3, Skipped: 2}},
			},
			wantStates:     repeat(stSent, 5),
			wantDeliveries: repeat(1, 5),
			wantCalls:      []int{2, 2, 2, 1},
		},
		{
			name: "permanent per-entry failure is recorded and never retried",
			n:    3, chunk: 50,
			setup: func(e *env) {
				e.sender.entryErrs[e.email(1)] = gazette.Errorf(gazette.KindInvalid, "bad_address", "MessageRejected")
			},
			steps: []step{
				{want: Result{Sent: 2, Failed: 1}},
				{advance: time.Hour, want: Result{Skipped: 3}},
			},
			wantStates:     []string{stSent, stFailed, stSent},
			wantDeliveries: []int{1, 0, 1},
			wantCalls:      []int{3},
		},
		{
			name: "transient per-entry failure is released and retried next time",
			n:    3, chunk: 50,
			setup: func(e *env) {
				e.sender.entryErrs[e.email(2)] = gazette.Errorf(gazette.KindUnknown, "ses_5xx", "internal failure")
			},
			steps: []step{
				{want: Result{Sent: 2, Retry: 1}, wantErr: true, wantKind: gazette.KindThrottled},
				{prepare: func(e *env) { delete(e.sender.entryErrs, e.email(2)) }, want: Result{Sent: 1, Skipped: 2}},
			},
			wantStates:     repeat(stSent, 3),
			wantDeliveries: []int{1, 1, 1},
			wantCalls:      []int{3, 1},
		},
		{
			name: "chunk of 7 splits 20 recipients into 7, 7, 6",
			n:    20, chunk: 7,
			steps:          []step{{want: Result{Sent: 20}}},
			wantStates:     repeat(stSent, 20),
			wantDeliveries: repeat(1, 20),
			wantCalls:      []int{7, 7, 6},
		},
		{
			name: "chunk 0 means one recipient per call",
			n:    3, chunk: 0,
			steps:          []step{{want: Result{Sent: 3}}},
			wantStates:     repeat(stSent, 3),
			wantDeliveries: repeat(1, 3),
			wantCalls:      []int{1, 1, 1},
		},
		{
			name: "limiter error sends nothing and releases everyone",
			n:    3, chunk: 50,
			setup: func(e *env) { e.limiter.err = context.DeadlineExceeded },
			steps: []step{
				{want: Result{Retry: 3}, wantErr: true},
				{prepare: func(e *env) { e.limiter.err = nil }, want: Result{Sent: 3}},
			},
			wantStates:     repeat(stSent, 3),
			wantDeliveries: repeat(1, 3),
			wantCalls:      []int{3},
			wantLimiter:    []int{3, 3},
		},
		{
			// The documented at-least-once window: SES accepted the call but
			// its Record was not written. The claim stays until its lease
			// ends, then that call's recipients are sent again: one
			// duplicate each, nobody skipped.
			name: "sent but its record not written: in flight until the lease ends, then exactly one duplicate",
			n:    3, chunk: 50,
			setup: func(e *env) { e.ledger.recordFails = 1 },
			steps: []step{
				{want: Result{Retry: 3}, wantErr: true},
				// The claim is kept: the whole batch waits for the lease.
				{advance: 30 * time.Second, want: Result{Retry: 3}, wantErr: true, wantKind: gazette.KindThrottled},
				{advance: lease, want: Result{Sent: 3}},
				{advance: lease, want: Result{Skipped: 3}},
			},
			wantStates:     repeat(stSent, 3),
			wantDeliveries: []int{2, 2, 2},
			wantCalls:      []int{3, 3},
		},
		{
			// Chunked: the first call's Record is lost, the second call is
			// never made (the batch stops at the failed write). After the
			// lease only the first call's recipients are sent twice.
			name: "record of the first of two calls not written: only that call's recipients are sent twice",
			n:    4, chunk: 2,
			setup: func(e *env) { e.ledger.recordFails = 1 },
			steps: []step{
				{want: Result{Retry: 4}, wantErr: true},
				{advance: lease + time.Second, want: Result{Sent: 4}},
			},
			wantStates:     repeat(stSent, 4),
			wantDeliveries: []int{2, 2, 1, 1},
			wantCalls:      []int{2, 2, 2},
		},
		{
			name: "everyone recorded but the claim left open: the redelivery only releases it",
			n:    2, chunk: 50,
			setup: func(e *env) {
				k := KeyOf(e.batch)
				rs := e.batch.Recipients
				e.ledger.claims[claimKey(k)] = &claim{state: "open", hash: k.Hash, recs: map[string]record{
					rs[0].SubscriberID: {state: stSent, messageID: "m0"}, rs[1].SubscriberID: {state: stFailed, reason: "rejected"}}}
				e.sender.delivered[rs[0].Email], e.sender.ids[rs[0].Email] = 1, []string{"m0"}
			},
			steps: []step{
				{want: Result{Skipped: 2}},
				{want: Result{Skipped: 2}},
			},
			wantStates:     []string{stSent, stFailed},
			wantDeliveries: []int{1, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, svc := newEnv(tt.n, tt.chunk)
			runSendBatchCase(t, e, svc, tt.setup, tt.steps, tt.wantStates, tt.wantDeliveries, tt.wantCalls, tt.wantLimiter)
		})
	}
}

func runSendBatchCase(t *testing.T, e *env, svc *Service, setup func(e *env), steps []step,
	wantStates []string, wantDeliveries, wantCalls, wantLimiterIn []int) {
	t.Helper()
	tt := struct {
		setup          func(e *env)
		steps          []step
		wantStates     []string
		wantDeliveries []int
		wantCalls      []int
		wantLimiter    []int
	}{setup, steps, wantStates, wantDeliveries, wantCalls, wantLimiterIn}
	{
		{
			if tt.setup != nil {
				tt.setup(e)
			}
			for i, s := range tt.steps {
				e.clock.advance(s.advance)
				if s.prepare != nil {
					s.prepare(e)
				}
				got, err := svc.SendBatch(context.Background(), e.batch)
				if (err != nil) != s.wantErr {
					t.Fatalf("step %d: SendBatch() error = %v, want error %t", i, err, s.wantErr)
				}
				if s.wantErr && s.wantKind != gazette.KindUnknown && gazette.KindOf(err) != s.wantKind {
					t.Errorf("step %d: error kind = %s, want %s (%v)", i, gazette.KindOf(err), s.wantKind, err)
				}
				if s.wantErr && !gazette.Retryable(err) {
					t.Errorf("step %d: error %v is not retryable; the batch would be dropped", i, err)
				}
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Errorf("step %d: result (-want +got):\n%s", i, diff)
				}
			}
			if diff := cmp.Diff(tt.wantStates, e.ledger.states(e.batch.Issue, e.batch.Recipients)); diff != "" {
				t.Errorf("ledger states (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDeliveries, e.deliveries()); diff != "" {
				t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCalls, e.sender.callSizes()); diff != "" {
				t.Errorf("recipients per SES call (-want +got):\n%s", diff)
			}
			wantLimiter := tt.wantLimiter
			if wantLimiter == nil {
				wantLimiter = tt.wantCalls
			}
			if diff := cmp.Diff(wantLimiter, e.limiter.ns); diff != "" {
				t.Errorf("limiter asked for (-want +got):\n%s", diff)
			}
			// Every sent record carries the message ID SES returned last.
			for _, r := range e.batch.Recipients {
				rec := e.record(r)
				if rec.state != stSent {
					continue
				}
				ids := e.sender.ids[r.Email]
				if len(ids) == 0 || rec.messageID != ids[len(ids)-1] {
					t.Errorf("%s: ledger message ID %q, SES gave %v", r.Email, rec.messageID, ids)
				}
			}
		}
	}
}

// TestSendBatchMessages checks what one SES call carries: template, tags,
// per-recipient data and the RFC 8058 headers.
func TestSendBatchMessages(t *testing.T) {
	tests := []struct {
		name     string
		segment  string
		nameOf   string // the recipient's name
		wantName string
		wantTags map[string]string
	}{
		{name: "named recipient", nameOf: "Ada", wantName: "Ada", wantTags: map[string]string{"issue": "3", "batch": "2"}},
		{name: "unnamed recipient gets the default greeting", nameOf: " ", wantName: mergetag.DefaultName,
			wantTags: map[string]string{"issue": "3", "batch": "2"}},
		{name: "segment is tagged", segment: "sport", nameOf: "Ada", wantName: "Ada",
			wantTags: map[string]string{"issue": "3", "batch": "2", "segment": "sport"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, svc := newEnv(1, 50)
			e.batch.Segment = tt.segment
			e.batch.Recipients[0].Name = tt.nameOf
			id := e.batch.Recipients[0].SubscriberID
			if _, err := svc.SendBatch(context.Background(), e.batch); err != nil {
				t.Fatal(err)
			}
			if len(e.sender.calls) != 1 {
				t.Fatalf("%d SES calls, want 1", len(e.sender.calls))
			}
			c := e.sender.calls[0]
			unsub := "https://news.example/unsubscribe?t=u-" + id
			want := bulkCall{
				Template: "gazette-issue-3",
				Tags:     tt.wantTags,
				Shared:   []Header{{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}},
				Msgs: []Message{{
					To: "r00@example.com",
					Data: map[string]string{
						mergetag.KeyName: tt.wantName, mergetag.KeyUnsubscribeURL: unsub,
						mergetag.KeyPreferencesURL: "https://news.example/preferences?t=p-" + id,
					},
					Headers: []Header{{Name: "List-Unsubscribe", Value: "<" + unsub + ">"}},
				}},
			}
			if diff := cmp.Diff(want, c); diff != "" {
				t.Errorf("SES call (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSendBatchLinksError: a recipient whose links cannot be made must not
// block the others for a whole lease (sendChunk documents that a returned
// error means every recipient of the chunk was released).
func TestSendBatchLinksError(t *testing.T) {
	e, svc := newEnv(3, 50)
	e.links.err[e.batch.Recipients[1].SubscriberID] = errors.New("signer unavailable")
	if _, err := svc.SendBatch(context.Background(), e.batch); err == nil {
		t.Fatal("SendBatch() error = nil, want the links error")
	}
	if diff := cmp.Diff(repeat("", 3), e.ledger.states(e.batch.Issue, e.batch.Recipients)); diff != "" {
		t.Errorf("ledger states (-want +got):\n%s", diff)
	}
	// The claim was released: the redelivery sends at once.
	delete(e.links.err, e.batch.Recipients[1].SubscriberID)
	if res, err := svc.SendBatch(context.Background(), e.batch); err != nil || res != (Result{Sent: 3}) {
		t.Errorf("redelivery = %+v, %v; want all 3 sent", res, err)
	}
}

// TestSendBatchClaimLost: an invocation that outlived its lease while
// another took the batch over still records what SES accepted (so the
// successor skips them), leaves the successor's claim alone and sends no
// further chunk.
func TestSendBatchClaimLost(t *testing.T) {
	e, svc := newEnv(4, 2)
	// The Limiter runs just before each SES call: before the first call
	// the clock jumps past the lease and another invocation claims.
	takeover := &takeoverLimiter{e: e}
	svc.Limiter = takeover
	res, err := svc.SendBatch(context.Background(), e.batch)
	if err == nil || !gazette.Retryable(err) {
		t.Fatalf("SendBatch() error = %v, want a retryable error", err)
	}
	if want := (Result{Sent: 2, Retry: 2}); res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if diff := cmp.Diff([]int{2}, e.sender.callSizes()); diff != "" {
		t.Errorf("recipients per SES call (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{stSent, stSent, "", ""}, e.ledger.states(3, e.batch.Recipients)); diff != "" {
		t.Errorf("ledger states (-want +got):\n%s", diff)
	}
	c := e.ledger.claims[claimKey(KeyOf(e.batch))]
	if c.state != "held" || c.owner != "successor" {
		t.Errorf("claim = %s by %q, want still held by the successor", c.state, c.owner)
	}
}

// takeoverLimiter lets another invocation claim e's batch (its lease run
// out) the first time it is asked.
type takeoverLimiter struct {
	e    *env
	done bool
}

func (l *takeoverLimiter) Wait(ctx context.Context, n int) error {
	if !l.done {
		l.done = true
		l.e.clock.advance(lease + time.Second)
		if st, _, err := l.e.ledger.Claim(ctx, KeyOf(l.e.batch), "successor", n, l.e.clock.Now(), lease); err != nil || st != Claimed {
			return fmt.Errorf("successor claim = %v, %v", st, err)
		}
	}
	return nil
}

// TestSendBatchLedgerCalls: the ledger costs one write per SES call plus
// the claim, not calls per recipient; a done batch costs one.
func TestSendBatchLedgerCalls(t *testing.T) {
	tests := []struct {
		name  string
		chunk int
		want  map[string]int
	}{
		{name: "one SES call", chunk: 50, want: map[string]int{"Claim": 1, "Record": 1}},
		{name: "two SES calls", chunk: 25, want: map[string]int{"Claim": 1, "Record": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, svc := newEnv(50, tt.chunk)
			if _, err := svc.SendBatch(context.Background(), e.batch); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, e.ledger.calls); diff != "" {
				t.Errorf("ledger calls for 50 recipients (-want +got):\n%s", diff)
			}
			clear(e.ledger.calls)
			if res, err := svc.SendBatch(context.Background(), e.batch); err != nil || res != (Result{Skipped: 50}) {
				t.Fatalf("redelivery = %+v, %v", res, err)
			}
			if diff := cmp.Diff(map[string]int{"Claim": 1}, e.ledger.calls); diff != "" {
				t.Errorf("ledger calls for a done batch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSendBatchConcurrentSameBatch: the same batch delivered to several
// invocations at once (SQS at-least-once) reaches everyone exactly once;
// the claim makes the others hand it back until it is done.
func TestSendBatchConcurrentSameBatch(t *testing.T) {
	e, _ := newEnv(40, 10)
	var wg sync.WaitGroup
	for range 4 {
		_, svc := newEnv(40, 10)
		svc.Ledger, svc.Sender, svc.Now = e.ledger, e.sender, e.clock.Now
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if _, err := svc.SendBatch(context.Background(), e.batch); err == nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
			t.Error("batch never finished")
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(repeat(1, 40), e.deliveries()); diff != "" {
		t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
	}
}

// TestSendBatchReformed: a batch number that comes back with other
// recipients (publish's plan makes that impossible; the ledger does not
// rely on it) sends only those its record does not hold.
func TestSendBatchReformed(t *testing.T) {
	e, svc := newEnv(6, 50)
	all := e.batch.Recipients
	first := gazette.SendBatch{Issue: 3, Batch: 1, Template: "t", Recipients: all[:3]}
	if res, err := svc.SendBatch(context.Background(), first); err != nil || res != (Result{Sent: 3}) {
		t.Fatalf("first = %+v, %v", res, err)
	}
	// Same number, one more subscriber: only the new one is sent.
	same := gazette.SendBatch{Issue: 3, Batch: 1, Template: "t", Recipients: all[:4]}
	if res, err := svc.SendBatch(context.Background(), same); err != nil || res != (Result{Sent: 1, Skipped: 3}) {
		t.Errorf("re-formed batch 1 = %+v, %v; want 1 sent, 3 skipped", res, err)
	}
	if res, err := svc.SendBatch(context.Background(), same); err != nil || res != (Result{Skipped: 4}) {
		t.Errorf("re-formed batch 1 again = %+v, %v; want 4 skipped", res, err)
	}
	if diff := cmp.Diff(append(repeat(1, 4), 0, 0), e.deliveries()); diff != "" {
		t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
	}
}

// TestKeyOf: the claim key is per batch number, and its hash does not
// depend on the recipients' order.
func TestKeyOf(t *testing.T) {
	rs := recipients(3)
	a := KeyOf(gazette.SendBatch{Issue: 1, Batch: 2, Recipients: rs})
	b := KeyOf(gazette.SendBatch{Issue: 1, Batch: 2, Recipients: []gazette.Recipient{rs[2], rs[0], rs[1]}})
	c := KeyOf(gazette.SendBatch{Issue: 1, Batch: 2, Recipients: rs[:2]})
	if a != b {
		t.Errorf("KeyOf depends on order: %v vs %v", a, b)
	}
	if a.Hash == c.Hash {
		t.Errorf("KeyOf of different recipients collides: %v", a)
	}
}

// fakeDepartures is a Departures with a fixed set; reads counts the calls
// and err fails them.
type fakeDepartures struct {
	ids   map[string]bool
	since []time.Time
	reads int
	err   error
}

func (f *fakeDepartures) SuppressedSince(_ context.Context, since, _ time.Time) (map[string]bool, error) {
	f.reads++
	f.since = append(f.since, since)
	return maps.Clone(f.ids), f.err
}

// TestSendBatchDepartures: whoever left after the batch was planned is
// recorded as suppressed and not sent, and the redelivery skips them; the
// departures are read once per DeparturesTTL, far enough back.
func TestSendBatchDepartures(t *testing.T) {
	e, svc := newEnv(4, 2)
	planned := e.clock.Now().Add(-time.Hour)
	e.batch.PlannedAt = planned
	left := e.batch.Recipients[1].SubscriberID
	deps := &fakeDepartures{ids: map[string]bool{left: true, "someone-else": true}}
	svc.Departures = deps

	res, err := svc.SendBatch(context.Background(), e.batch)
	if err != nil || res != (Result{Sent: 3, Suppressed: 1}) {
		t.Fatalf("SendBatch() = %+v, %v; want 3 sent, 1 suppressed", res, err)
	}
	if diff := cmp.Diff([]int{1, 0, 1, 1}, e.deliveries()); diff != "" {
		t.Errorf("deliveries per recipient (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{stSent, stSuppressed, stSent, stSent}, e.ledger.states(3, e.batch.Recipients)); diff != "" {
		t.Errorf("ledger states (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 1}, e.sender.callSizes()); diff != "" {
		t.Errorf("recipients per SES call (-want +got):\n%s", diff)
	}

	// A second batch within the TTL uses the same read; a batch planned
	// earlier than that read reaches back needs a new one, as does the
	// first batch after the TTL.
	other := e.batch
	other.Batch = 9
	if _, err := svc.SendBatch(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	earlier := other
	earlier.Batch, earlier.PlannedAt = 10, planned.Add(-time.Hour)
	if _, err := svc.SendBatch(context.Background(), earlier); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(31 * time.Second)
	later := other
	later.Batch = 11
	if _, err := svc.SendBatch(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Time{planned, planned.Add(-time.Hour), planned}, deps.since); diff != "" {
		t.Errorf("departures read since (-want +got):\n%s", diff)
	}

	// The redelivery of the first batch sends nobody and suppresses nobody
	// again: all four are recorded.
	if res, err := svc.SendBatch(context.Background(), e.batch); err != nil || res != (Result{Skipped: 4}) {
		t.Errorf("redelivery = %+v, %v; want 4 skipped", res, err)
	}

	// A failed read stops the batch before its claim, to be retried.
	e2, svc2 := newEnv(2, 50)
	svc2.Departures = &fakeDepartures{err: gazette.Errorf(gazette.KindThrottled, "dynamodb", "slow down")}
	if res, err := svc2.SendBatch(context.Background(), e2.batch); !gazette.Retryable(err) || res != (Result{Retry: 2}) {
		t.Errorf("SendBatch() with unreadable departures = %+v, %v; want all retried, retryable", res, err)
	}
	if e2.ledger.calls["Claim"] != 0 || len(e2.sender.calls) != 0 {
		t.Errorf("claimed %d times, %d SES calls; want none", e2.ledger.calls["Claim"], len(e2.sender.calls))
	}
}
