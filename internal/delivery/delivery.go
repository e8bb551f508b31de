// Package delivery sends one batch of an issue to its recipients, exactly
// once each as far as SES lets anyone know.
//
// # The ledger
//
// The ledger costs a handful of DynamoDB calls per SES call, not two per
// recipient. For a batch of n ≤ 50 recipients sent in chunks:
//
//  1. Claim: one conditional write on the batch's claim item (issue, batch
//     number) with a lease and an owner token. It succeeds when the item is
//     absent, released ("open"), held by a dead invocation (lease ran out),
//     or done for a different set of recipients (a batch re-formed under the
//     same number by a resumed publish). It answers Done when the same
//     recipients (same hash of their IDs) were all recorded already, and
//     InFlight when a live invocation holds it. The claim serialises every
//     delivery of one batch number: SQS redelivery, Lambda retries, the same
//     batch enqueued twice by a resumed publish.
//  2. Per chunk: Lookup, one BatchGetItem of the chunk's per-recipient
//     records; those recorded "sent" or "failed" are skipped. This is what
//     covers batches re-formed by a resumed publish (a recipient may come
//     back in another batch number) and batches that died half-way.
//  3. SES is called with the rest (after the daily quota and the limiter).
//  4. Record: the outcomes, "sent" (with SES's message ID) or "failed", one
//     BatchWriteItem per 25, retrying UnprocessedItems. Retryable outcomes
//     are not written: no record means "not sent yet".
//  5. Release: the claim is marked done (every recipient recorded) or open
//     (some to retry: the redelivery takes it at once). Release is
//     conditional on the owner token, so an invocation whose lease ran out
//     cannot release its successor's claim.
//
// # Races and crashes
//
//   - Two deliveries of the same batch at once: one claims, the other gets
//     InFlight and hands the batch back to SQS; when it comes back the claim
//     is done (all skipped, no Lookup needed) or open (Lookup skips whoever
//     was recorded). No duplicate.
//   - Crash after Claim, before SES: nothing sent; the claim's lease (2 min)
//     ends and the redelivery sends everyone. No duplicate, no skip.
//   - Crash (or SES's answer lost) after SES accepted a chunk and before its
//     records are written: the redelivery, after the lease, finds no record
//     and sends that chunk again. This is the documented at-least-once
//     window: at most one duplicate per recipient of that chunk per crash,
//     never a skip. Treating an unrecorded claim as sent would instead skip
//     readers whose send never happened, which is worse for a newsletter.
//     A Record that fails part-way (one of its BatchWriteItem calls, or
//     items still unprocessed after the retries) is the same window for the
//     recipients not written; the claim is kept, so the rest of the batch
//     waits for the lease too.
//   - Crash after Record, before Release: after the lease the redelivery
//     claims, Lookup skips everyone recorded. No duplicate.
//   - Two different batches holding the same recipient at the same time:
//     only a publish resumed after a crash between enqueueing a page and
//     saving its progress does that, and only when the page's subscribers
//     changed in between (otherwise the batches come out identical, same
//     numbers, and the claim serialises them). Their claims are different
//     items, so the one thing that protects the recipient is Lookup: if both
//     deliveries run Lookup for that recipient before either writes its
//     record, both send. The residual window is therefore the time from a
//     chunk's Lookup to its Record: the limiter wait for that chunk (at most
//     one rate window, ~1 s), the SES call and the BatchWriteItem — about a
//     second, and only for recipients re-batched by such a resume. A
//     per-recipient conditional claim would close it at two DynamoDB calls
//     per recipient, which is what this design removes.
package delivery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gazette-news/gazette/internal/digest"
	"github.com/gazette-news/gazette/internal/gazette"
)

// ClaimState is what the ledger says about a batch claim (Claimed, Done,
// InFlight) or a recipient's record (Sent, Failed).
type ClaimState int

// Claim and record states.
const (
	Claimed  ClaimState = iota // the batch is ours to send now
	Sent                       // recipient: SES accepted it
	InFlight                   // batch: another invocation holds a live lease
	Failed                     // recipient: failed for good
	Done                       // batch: every one of these recipients is recorded
)

// BatchKey names a batch's claim: the claim item is per (Issue, Batch);
// Hash (of the recipients' IDs) tells a batch from one re-formed under the
// same number.
type BatchKey struct {
	Issue, Batch int
	Hash         string
}

// KeyOf is b's claim key.
func KeyOf(b gazette.SendBatch) BatchKey {
	ids := make([]string, len(b.Recipients))
	for i, r := range b.Recipients {
		ids[i] = r.SubscriberID
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return BatchKey{Issue: b.Issue, Batch: b.Batch, Hash: hex.EncodeToString(h.Sum(nil)[:12])}
}

// Ledger records delivery of an issue: a claim per batch, a record per
// recipient (see the package documentation).
type Ledger interface {
	// Claim takes batch k for owner until now+lease: Claimed, Done (skip
	// everyone), or InFlight (try later). pending is how many recipients
	// the batch has (for `gazette issue status`).
	Claim(ctx context.Context, k BatchKey, owner string, pending int, now time.Time, lease time.Duration) (ClaimState, error)
	// Lookup returns the recorded state (Sent or Failed) of those of the
	// recipients that have a record.
	Lookup(ctx context.Context, issue int, recipients []string) (map[string]ClaimState, error)
	// Record writes every outcome (State Sent or Failed). On an error some
	// may have been written and others not.
	Record(ctx context.Context, issue int, rs []Record) error
	// Release ends owner's claim on k: done when every recipient is
	// recorded, otherwise open for the next delivery at once with pending
	// recipients left. A claim owner no longer holds is left alone.
	Release(ctx context.Context, k BatchKey, owner string, done bool, pending int, reason string) error
}

// Record is one recipient's outcome: State is Sent (with MessageID and At)
// or Failed (with Reason).
type Record struct {
	Recipient string
	State     ClaimState
	MessageID string
	At        time.Time
	Reason    string
	Batch     int
}

// Header is one mail header.
type Header struct{ Name, Value string }

// Message is one recipient's part of a bulk send.
type Message struct {
	To      string
	Data    map[string]string
	Headers []Header
}

// Outcome is SES's answer for one message; Err is classified (gazette kinds).
type Outcome struct {
	MessageID string
	Err       error
}

// Sender sends one templated bulk call.
type Sender interface {
	SendBulk(ctx context.Context, template string, tags map[string]string, msgs []Message) ([]Outcome, error)
}

// Limiter paces sends: Wait returns once n more messages may go out.
type Limiter interface {
	Wait(ctx context.Context, n int) error
}

// Quota is the account's 24-hour quota (DailyQuota in production).
type Quota interface {
	// Take reserves n messages, or fails with code CodeDailyQuota.
	Take(ctx context.Context, n int) error
	// Give returns reserved messages that were not sent.
	Give(n int)
}

// IssueGuard says whether an issue may be sent (Guard in production); a
// paused issue is an error with code CodePaused.
type IssueGuard interface {
	Check(ctx context.Context, issue int) error
}

// Links makes a recipient's personal links.
type Links interface {
	UnsubscribeURL(subscriberID string) (string, error)
	PreferencesURL(subscriberID string) (string, error)
}

// Service sends batches.
type Service struct {
	Ledger  Ledger
	Sender  Sender
	Limiter Limiter
	Links   Links
	// Quota and Guard are optional: nil sends without a daily quota or a
	// reputation guard.
	Quota Quota
	Guard IssueGuard
	// Chunk is the most recipients per SES call (≤ 50); smaller when the
	// per-instance send rate is below 50 a second, so that a call never
	// needs more than one second's budget.
	Chunk int
	// Lease is how long a batch claim stops other invocations from sending
	// the same batch; longer than the batch's SES calls plus ledger writes.
	Lease time.Duration
	Now   func() time.Time
	Log   *slog.Logger
}

// Result counts what happened to a batch's recipients.
type Result struct {
	Sent, Skipped, Failed, Retry int
}

// SendBatch sends batch b. It returns an error when some recipients must be
// retried (throttling, SES outage, the batch in flight elsewhere): the
// caller hands the batch back to SQS, and the redelivery skips everyone
// already recorded. Permanent per-recipient failures are recorded, not
// retried.
//
// Two errors stop a batch before anything is claimed, and the caller parks
// it instead of retrying at once: code CodePaused (the reputation guard
// paused the issue) and code CodeDailyQuota (the 24-hour quota is nearly
// used). When the quota runs out part-way the claim is released.
func (s *Service) SendBatch(ctx context.Context, b gazette.SendBatch) (Result, error) {
	var res Result
	n := len(b.Recipients)
	if err := s.gate(ctx, b); err != nil {
		res.Retry = n
		return res, err
	}
	k := KeyOf(b)
	owner := newOwner()
	st, err := s.Ledger.Claim(ctx, k, owner, n, s.Now(), s.Lease)
	if err != nil {
		res.Retry = n
		return res, fmt.Errorf("send issue %d batch %d: %w", b.Issue, b.Batch, err)
	}
	switch st {
	case Done:
		res.Skipped = n
		s.Log.InfoContext(ctx, "batch done already", "issue", b.Issue, "batch", b.Batch, "skipped", n)
		return res, nil
	case InFlight:
		res.Retry = n
		s.Log.InfoContext(ctx, "batch in flight elsewhere", "issue", b.Issue, "batch", b.Batch)
		return res, gazette.Errorf(gazette.KindThrottled, "in_flight",
			"send issue %d batch %d: in flight in another invocation", b.Issue, b.Batch)
	}

	chunk := min(max(s.Chunk, 1), gazette.MaxBatchRecipients)
	var firstErr error
	keep := false // a record write failed: keep the claim until its lease ends
	for start := 0; start < n; start += chunk {
		part := b.Recipients[start:min(start+chunk, n)]
		if err := s.sendChunk(ctx, b, part, &res); err != nil {
			firstErr = err
			keep = errors.As(err, new(recordFailed))
			// Everyone not yet attempted goes to the redelivery.
			res.Retry += n - start - len(part)
			break
		}
	}
	if res.Skipped > 0 {
		s.Log.InfoContext(ctx, "recipients already handled", "issue", b.Issue, "batch", b.Batch, "skipped", res.Skipped)
	}
	if !keep {
		reason := ""
		if firstErr != nil {
			reason = firstErr.Error()
		}
		done := firstErr == nil && res.Retry == 0
		if err := s.Ledger.Release(ctx, k, owner, done, res.Retry, reason); err != nil {
			// The claim then ends with its lease. That only delays a retry;
			// when done, every recipient is recorded and a redelivery skips
			// them all.
			s.Log.WarnContext(ctx, "release failed; the claim expires with its lease", "issue", b.Issue,
				"batch", b.Batch, "error", err.Error())
		}
	}
	s.Log.InfoContext(ctx, "batch done", "issue", b.Issue, "batch", b.Batch,
		"sent", res.Sent, "skipped", res.Skipped, "failed", res.Failed, "retry", res.Retry)
	if firstErr != nil {
		return res, fmt.Errorf("send issue %d batch %d: %w", b.Issue, b.Batch, firstErr)
	}
	if res.Retry > 0 {
		return res, gazette.Errorf(gazette.KindThrottled, "retry",
			"send issue %d batch %d: %d recipients to retry", b.Issue, b.Batch, res.Retry)
	}
	return res, nil
}

// recordFailed marks a Record error: SES answered, some outcomes may be
// unwritten, and the claim must stay until its lease ends.
type recordFailed struct{ err error }

func (e recordFailed) Error() string { return "record outcomes: " + e.err.Error() }
func (e recordFailed) Unwrap() error { return e.err }

// RecordError is a Record error that says which outcomes may not have
// been written; any other Record error means "maybe none".
type RecordError struct {
	Unwritten []string
	Err       error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%d outcomes not written: %v", len(e.Unwritten), e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// newOwner is a claim's owner token.
func newOwner() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// gate runs the checks that stop a whole batch before any claim.
func (s *Service) gate(ctx context.Context, b gazette.SendBatch) error {
	if s.Guard != nil {
		if err := s.Guard.Check(ctx, b.Issue); err != nil {
			s.Log.WarnContext(ctx, "batch not sent: issue paused", "issue", b.Issue, "batch", b.Batch,
				"code", gazette.CodeOf(err), "error", err.Error())
			return fmt.Errorf("send issue %d batch %d: %w", b.Issue, b.Batch, err)
		}
	}
	if s.Quota != nil {
		if err := s.Quota.Take(ctx, 0); err != nil {
			s.Log.WarnContext(ctx, "batch not sent: daily quota", "issue", b.Issue, "batch", b.Batch,
				"code", gazette.CodeOf(err), "error", err.Error())
			return fmt.Errorf("send issue %d batch %d: %w", b.Issue, b.Batch, err)
		}
	}
	return nil
}

// sendChunk sends one SES call's worth of the batch: it skips whoever the
// ledger has a record of, sends the rest and records their outcomes. A
// returned error means the chunk's unsent recipients were counted as Retry;
// a recordFailed one means SES answered and some outcomes may be unwritten.
func (s *Service) sendChunk(ctx context.Context, b gazette.SendBatch, chunk []gazette.Recipient, res *Result) error {
	ids := make([]string, len(chunk))
	for i, r := range chunk {
		ids[i] = r.SubscriberID
	}
	known, err := s.Ledger.Lookup(ctx, b.Issue, ids)
	if err != nil {
		res.Retry += len(chunk)
		return err
	}
	part := chunk
	if len(known) > 0 {
		part = make([]gazette.Recipient, 0, len(chunk))
		for _, r := range chunk {
			if _, ok := known[r.SubscriberID]; ok {
				res.Skipped++
			} else {
				part = append(part, r)
			}
		}
	}
	if len(part) == 0 {
		return nil
	}
	msgs := make([]Message, len(part))
	for i, r := range part {
		if msgs[i], err = s.message(r); err != nil {
			break
		}
	}
	taken := false
	if err == nil && s.Quota != nil {
		if err = s.Quota.Take(ctx, len(part)); err == nil {
			taken = true
		}
	}
	if err == nil {
		err = s.Limiter.Wait(ctx, len(part))
	}
	var outcomes []Outcome
	if err == nil {
		tags := map[string]string{"issue": fmt.Sprint(b.Issue), "batch": fmt.Sprint(b.Batch)}
		if b.Segment != "" {
			tags["segment"] = b.Segment
		}
		outcomes, err = s.Sender.SendBulk(ctx, b.Template, tags, msgs)
	}
	if err != nil {
		if taken {
			s.Quota.Give(len(part))
		}
		// Nothing of this chunk was sent: all of it may go again.
		res.Retry += len(part)
		s.Log.WarnContext(ctx, "bulk send failed", "issue", b.Issue, "batch", b.Batch,
			"kind", gazette.KindOf(err).String(), "recipients", len(part), "error", err.Error())
		return err
	}
	rs := make([]Record, 0, len(part))
	now := s.Now()
	var counts Result
	for i, r := range part {
		o := outcomes[i]
		switch {
		case o.Err == nil:
			rs = append(rs, Record{Recipient: r.SubscriberID, State: Sent, MessageID: o.MessageID, At: now, Batch: b.Batch})
			counts.Sent++
			continue
		case gazette.Retryable(o.Err):
			// Not recorded: no record is "not sent yet".
			counts.Retry++
		default:
			rs = append(rs, Record{Recipient: r.SubscriberID, State: Failed, Reason: o.Err.Error(), At: now, Batch: b.Batch})
			counts.Failed++
			s.Log.WarnContext(ctx, "recipient failed", "issue", b.Issue, "subscriber", r.SubscriberID, "error", o.Err.Error())
		}
		if s.Quota != nil {
			s.Quota.Give(1)
		}
	}
	if len(rs) > 0 {
		if err := s.Ledger.Record(ctx, b.Issue, rs); err != nil {
			// The unwritten outcomes count as retry (the redelivery's Lookup
			// finds no record for them) and the claim is kept until its lease
			// ends. For those SES accepted, this is the documented
			// at-least-once window.
			unwritten := map[string]bool{}
			var re *RecordError
			if errors.As(err, &re) {
				for _, id := range re.Unwritten {
					unwritten[id] = true
				}
			} else {
				for _, r := range rs {
					unwritten[r.Recipient] = true
				}
			}
			for _, r := range rs {
				if !unwritten[r.Recipient] {
					continue
				}
				counts.Retry++
				if r.State == Sent {
					counts.Sent--
				} else {
					counts.Failed--
				}
			}
			res.Sent += counts.Sent
			res.Retry += counts.Retry
			res.Failed += counts.Failed
			s.Log.WarnContext(ctx, "ledger write failed after SES answered; the claim is kept until its lease ends",
				"issue", b.Issue, "batch", b.Batch, "unwritten", len(unwritten), "error", err.Error())
			return recordFailed{err}
		}
	}
	res.Sent += counts.Sent
	res.Retry += counts.Retry
	res.Failed += counts.Failed
	return nil
}

// message personalises the issue for one recipient: template data and the
// RFC 8058 one-click unsubscribe headers.
func (s *Service) message(r gazette.Recipient) (Message, error) {
	unsub, err := s.Links.UnsubscribeURL(r.SubscriberID)
	if err != nil {
		return Message{}, err
	}
	prefs, err := s.Links.PreferencesURL(r.SubscriberID)
	if err != nil {
		return Message{}, err
	}
	return Message{
		To:   r.Email,
		Data: digest.RecipientData(r.Name, unsub, prefs),
		Headers: []Header{
			{Name: "List-Unsubscribe", Value: "<" + unsub + ">"},
			{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"},
		},
	}, nil
}
