package main

// Fault tests on the emulators: the send path (this handler, the core, the
// DynamoDB ledger on moto, SES v2 on aws-ses-v2-local) runs in-process so
// that faults can be put exactly where they matter: a proxy in front of SES
// that throttles and fails, a ledger that "crashes" between SES's answer
// and the sent write, and the same batch delivered twice at once. Each test
// reads SES's store and counts the mails per recipient.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/localstack"
	"github.com/gazette-news/gazette/internal/localstack/stacktest"
	"github.com/gazette-news/gazette/internal/mergetag"
	"github.com/gazette-news/gazette/internal/scenario"
	"github.com/gazette-news/gazette/internal/sesmail"
	"github.com/gazette-news/gazette/internal/token"
)

// faultProxy sits in front of the SES emulator. fault decides, for the
// n-th SendBulkEmail call (0-based), whether to answer an error instead
// (before) or to forward and then lose SES's answer (after).
type faultProxy struct {
	srv   *httptest.Server
	calls atomic.Int64
	// before returns a status and error type to answer without forwarding,
	// or 0.
	before func(n int64) (int, string)
	// after reports whether to forward the call and then answer 500, as a
	// reply lost on the way back would look.
	after func(n int64) bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{before: func(int64) (int, string) { return 0, "" }, after: func(int64) bool { return false }}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/outbound-bulk-emails") {
			rp.ServeHTTP(w, r)
			return
		}
		n := p.calls.Add(1) - 1
		if status, typ := p.before(n); status != 0 {
			w.Header().Set("X-Amzn-ErrorType", typ)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"message":"injected %s"}`, typ)
			return
		}
		if p.after(n) {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			w.Header().Set("X-Amzn-ErrorType", "InternalFailure")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"message":"injected: reply lost"}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// faultEnv is one test's run: its own recipients, template and issue
// number on the shared stack.
type faultEnv struct {
	t       *testing.T
	st      *localstack.Stack
	run     string
	issue   int
	subject string
	clock   *offsetClock
	ledger  delivery.Ledger
	mailbox scenario.Mailbox
}

// offsetClock is the wall clock moved forward by a settable offset, so that
// a test can let ledger leases run out without waiting for them.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func newFaultEnv(t *testing.T) *faultEnv {
	st := stacktest.Require(t)
	table, err := st.TableName("LedgerTable")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	run := fmt.Sprintf("fault%d", now.UnixNano())
	e := &faultEnv{
		t: t, st: st, run: run,
		// Issue numbers far above any the stack publishes, one per test.
		issue:   900_000_000 + int(now.UnixNano()/1000%99_000_000),
		subject: "Fault test " + run,
		clock:   &offsetClock{},
		ledger:  dynamo.NewLedger(st.Clients().DynamoDB, table),
		mailbox: scenario.Mailbox{URL: st.Endpoints.SESv2},
	}
	ses := sesmail.New(st.Clients().SESv2)
	err = ses.PutTemplate(context.Background(), sesmail.Template{
		Name: run, Subject: e.subject,
		HTML: "<p>Hello {{" + mergetag.KeyName + "}}</p><p><a href=\"{{" + mergetag.KeyUnsubscribeURL + "}}\">Unsubscribe</a></p>",
		Text: "Hello {{" + mergetag.KeyName + "}}\nUnsubscribe: {{" + mergetag.KeyUnsubscribeURL + "}}\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// batches splits n recipients into batches of 50, as publish does.
func (e *faultEnv) batches(n int) []gazette.SendBatch {
	var out []gazette.SendBatch
	for i := 0; i < n; i += gazette.MaxBatchRecipients {
		b := gazette.SendBatch{Issue: e.issue, Batch: len(out) + 1, Template: e.run}
		for j := i; j < min(n, i+gazette.MaxBatchRecipients); j++ {
			email := fmt.Sprintf("r%04d+%s@example.com", j, e.run)
			b.Recipients = append(b.Recipients, gazette.Recipient{SubscriberID: gazette.SubscriberID(email), Email: email, Name: fmt.Sprintf("R%d", j)})
		}
		out = append(out, b)
	}
	return out
}

// handler is one send-batch instance whose SES calls go to sesURL and whose
// ledger is wrapped by wrap (nil: as is).
func (e *faultEnv) handler(sesURL string, ledger delivery.Ledger, perSecond int) *Handler {
	api := sesv2.New(sesv2.Options{
		Region: e.st.Region, BaseEndpoint: aws.String(sesURL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		// Let our own retry path see every injected fault (the SDK would
		// retry throttling and 5xx itself a few times first).
		RetryMaxAttempts: 1,
	})
	signer, err := token.NewSigner([]byte("fault-test-key-0123456789abcdef0123456789abcdef"))
	if err != nil {
		e.t.Fatal(err)
	}
	chunk := delivery.ChunkFor(perSecond)
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	log := slog.New(slog.NewJSONHandler(w, nil))
	svc := &delivery.Service{
		Ledger:  ledger,
		Sender:  sesmail.BulkSender{Client: sesmail.New(api), From: "newsletter@example.com"},
		Limiter: delivery.NewWindowLimiter(perSecond, time.Second+delivery.WindowMargin, delivery.RealClock{}, false),
		Links:   token.Links{Base: e.st.Endpoints.HTTPAPI, Signer: signer},
		Chunk:   chunk, Lease: 2 * time.Minute, Now: e.clock.Now, Log: log,
	}
	return &Handler{Send: svc, Log: log}
}

// deliver hands each batch to h until it succeeds, as the SQS event source
// redelivers a failed message; it returns how many deliveries it took.
func (e *faultEnv) deliver(ctx context.Context, h *Handler, bs []gazette.SendBatch, maxTries int) int {
	e.t.Helper()
	tries := 0
	for _, b := range bs {
		for try := 1; ; try++ {
			tries++
			if try > maxTries {
				e.t.Fatalf("batch %d still failing after %d deliveries", b.Batch, maxTries)
			}
			if ok := e.deliverOnce(ctx, h, b, try); ok {
				break
			}
		}
	}
	return tries
}

func (e *faultEnv) deliverOnce(ctx context.Context, h *Handler, b gazette.SendBatch, receive int) bool {
	body, err := json.Marshal(b)
	if err != nil {
		e.t.Fatal(err)
	}
	id := fmt.Sprintf("%s-%d", e.run, b.Batch)
	resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: id, Body: string(body), EventSource: "aws:sqs",
		Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(receive)},
	}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(resp.BatchItemFailures) == 0
}

// mailsPerRecipient counts this run's mails in SES's store by recipient.
func (e *faultEnv) mailsPerRecipient(ctx context.Context) map[string]int {
	e.t.Helper()
	all, err := e.mailbox.All(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range all {
		if m.Subject != e.subject {
			continue
		}
		for _, to := range m.Destination.To {
			got[to]++
		}
	}
	return got
}

// check compares the mails per recipient with want (1 each, except the
// listed duplicates) and reports duplicates and skips.
func (e *faultEnv) check(ctx context.Context, bs []gazette.SendBatch, dupes map[string]bool) {
	e.t.Helper()
	got := e.mailsPerRecipient(ctx)
	want := map[string]int{}
	for _, b := range bs {
		for _, r := range b.Recipients {
			want[r.Email] = 1
			if dupes[r.Email] {
				want[r.Email] = 2
			}
		}
	}
	skips, extra := 0, 0
	for addr, n := range want {
		if got[addr] == 0 {
			skips++
		}
		if got[addr] > n {
			extra += got[addr] - n
		}
	}
	if skips > 0 || extra > 0 {
		e.t.Errorf("%d recipients skipped, %d mails beyond the allowed duplicates", skips, extra)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		e.t.Errorf("mails per recipient (-want +got):\n%s", diff)
	}
}

func TestIntegrationFaultSESThrottlingAnd5xx(t *testing.T) {
	e := newFaultEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tests := []struct {
		name   string
		before func(n int64) (int, string)
	}{
		{name: "throttled, then failing, then fine", before: func(n int64) (int, string) {
			switch {
			case n < 3:
				return http.StatusTooManyRequests, "TooManyRequestsException"
			case n < 6:
				return http.StatusInternalServerError, "InternalFailure"
			case n%4 == 0 && n < 16:
				return http.StatusServiceUnavailable, "ServiceUnavailable"
			}
			return 0, ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFaultProxy(t, e.st.Endpoints.SESv2)
			p.before = tt.before
			bs := e.batches(160) // 4 batches, 4 SES calls when nothing fails
			h := e.handler(p.srv.URL, e.ledger, 100)
			tries := e.deliver(ctx, h, bs, 20)
			if tries <= len(bs) {
				t.Errorf("%d deliveries for %d batches: the faults were not hit", tries, len(bs))
			}
			e.check(ctx, bs, nil)
		})
	}
}

// crashLedger panics (the process dies) at the first Record of a chunk of
// crashBatch: SES has accepted the whole chunk, and none of it is recorded.
type crashLedger struct {
	delivery.Ledger
	crashBatch map[string]bool // recipients of the chunk that crashes
	armed      atomic.Bool
}

type crash struct{}

func (l *crashLedger) Record(ctx context.Context, k delivery.BatchKey, owner string, rs []delivery.Record, rel delivery.Release) error {
	if len(rs) > 0 && l.crashBatch[rs[0].Recipient] && l.armed.CompareAndSwap(true, false) {
		panic(crash{})
	}
	return l.Ledger.Record(ctx, k, owner, rs, rel)
}

func TestIntegrationFaultCrashAfterSESAccepted(t *testing.T) {
	e := newFaultEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bs := e.batches(100)
	crashed := bs[1]
	inCrash := map[string]bool{}
	for _, r := range crashed.Recipients {
		inCrash[r.SubscriberID] = true
	}
	wrapped := &crashLedger{Ledger: e.ledger, crashBatch: inCrash}
	wrapped.armed.Store(true)
	h := e.handler(e.st.Endpoints.SESv2, wrapped, 100)

	e.deliver(ctx, h, bs[:1], 1)
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Fatal("the injected crash did not happen")
			} else if _, ok := r.(crash); !ok {
				panic(r)
			}
		}()
		e.deliverOnce(ctx, h, crashed, 1)
	}()
	// Lambda starts a new instance; SQS redelivers the batch at once (as
	// after a timeout): the dead instance's batch claim is still leased, so
	// nobody is sent and the batch comes back later.
	if e.deliverOnce(ctx, h, crashed, 2) {
		t.Fatal("redelivery within the lease succeeded: it must wait for the dead claim")
	}
	if got := e.mailsPerRecipient(ctx); len(got) != 100 {
		t.Fatalf("%d recipients have mail after the crash, want 100 (batch 1 and the crashed chunk)", len(got))
	}
	// After the lease, the redelivery sends the unrecorded chunk again:
	// the documented at-least-once window, one duplicate per recipient of
	// the crashed chunk, nobody skipped.
	e.clock.advance(2*time.Minute + time.Second)
	e.deliver(ctx, h, []gazette.SendBatch{crashed}, 3)
	dupes := map[string]bool{}
	for _, r := range crashed.Recipients {
		dupes[r.Email] = true
	}
	e.check(ctx, bs, dupes)
}

func TestIntegrationFaultReplyLostAfterSESAccepted(t *testing.T) {
	// SES sends the chunk but its answer never arrives (5xx or timeout on
	// the way back): the same window as a crash, the chunk is sent again.
	e := newFaultEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := newFaultProxy(t, e.st.Endpoints.SESv2)
	p.after = func(n int64) bool { return n == 1 }
	bs := e.batches(100)
	h := e.handler(p.srv.URL, e.ledger, 100)
	e.deliver(ctx, h, bs, 3)
	dupes := map[string]bool{}
	for _, r := range bs[1].Recipients {
		dupes[r.Email] = true
	}
	e.check(ctx, bs, dupes)
}

func TestIntegrationFaultSQSRedelivery(t *testing.T) {
	e := newFaultEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bs := e.batches(200)
	// moto evaluates a conditional write and applies it without a lock: two
	// UpdateItems of one claim item arriving together can both pass their
	// condition (a third of the time in a probe), which DynamoDB never
	// allows. The instances share a ledger whose Claim is made atomic the way
	// DynamoDB's is, by a lock around that one call; everything else (the
	// lookups, the records, SES) is the emulators'. Simultaneous deliveries
	// against an atomic fake are also in delivery.TestSendBatchConcurrentSameBatch.
	ledger := &atomicClaims{Ledger: e.ledger}
	// Two instances get every batch at the same time (SQS at-least-once
	// delivery, or a visibility timeout shorter than a slow send), and
	// then each batch once more after it was done.
	var wg sync.WaitGroup
	for range 2 {
		h := e.handler(e.st.Endpoints.SESv2, ledger, 100)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range bs {
				for try := 1; try <= 50; try++ {
					if e.deliverOnce(ctx, h, b, try) {
						break
					}
					// In flight in the other instance: SQS would bring it
					// back after the visibility timeout.
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	h := e.handler(e.st.Endpoints.SESv2, e.ledger, 100)
	for _, b := range bs {
		if !e.deliverOnce(ctx, h, b, 3) {
			t.Errorf("late redelivery of batch %d failed", b.Batch)
		}
	}
	e.check(ctx, bs, nil)
}

// atomicClaims serialises Claim calls, as DynamoDB's conditional writes are
// atomic and moto's are not (see TestIntegrationFaultSQSRedelivery).
type atomicClaims struct {
	delivery.Ledger
	mu sync.Mutex
}

func (a *atomicClaims) Claim(ctx context.Context, k delivery.BatchKey, owner string, pending int, now time.Time, lease time.Duration) (delivery.ClaimState, map[string]delivery.ClaimState, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Ledger.Claim(ctx, k, owner, pending, now, lease)
}
