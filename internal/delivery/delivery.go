// Package delivery sends one batch of an issue to its recipients, exactly
// once each as far as SES lets anyone know.
//
// # The ledger
//
// The ledger is one DynamoDB item per (issue, batch): the batch's claim and
// the outcomes of its recipients. A batch of n ≤ 50 recipients sent in one
// SES call costs two ledger writes, whatever n is:
//
//  1. Claim: one conditional write on the batch item with a lease and an
//     owner token. It succeeds when the item is absent, released ("open"),
//     held by a dead invocation (lease ran out), or done for a different
//     set of recipients (same batch number, other hash of their IDs). The
//     same write returns the item as it was, so a redelivery learns whom
//     earlier deliveries recorded without another read; those recipients
//     are skipped. It answers Done when the same recipients were all
//     recorded already, and InFlight when a live invocation holds the
//     batch. The claim serialises every delivery of one batch number: SQS
//     redelivery, Lambda retries, the same batch enqueued twice by a
//     resumed publish.
//  2. SES is called with the rest (after the daily quota and the limiter).
//  3. Record: one conditional write (on the owner) adds the outcomes to the
//     batch item, "sent" with SES's message ID or "failed" with the
//     reason, and, after the last SES call of the batch, releases the claim
//     in the same write: done (every recipient recorded) or open (some to
//     retry: the redelivery takes it at once). Retryable outcomes are not
//     written: no record means "not sent yet". An invocation whose lease ran
//     out still writes its outcomes (they are facts), but leaves its
//     successor's claim alone.
//
// Batches smaller than the account's rate allows in one second are sent in
// several SES calls (Service.Chunk); each call is followed by its Record.
//
// Recipients who left (unsubscribed, bounced, complained) after their batch
// was planned are recorded "suppressed" with the first Record and not sent
// (Service.Departures, read once per DeparturesTTL, not per batch).
//
// Per-batch records are enough because publish puts every recipient in
// exactly one batch number of an issue: subscribers are paged in ID order,
// pages are disjoint, and a page's batches are fixed by its saved plan
// before any of them is enqueued, so a resumed publish enqueues the same
// batches again rather than re-forming them (see package publish).
//
// # Races and crashes
//
//   - Two deliveries of the same batch at once: one claims, the other gets
//     InFlight and hands the batch back to SQS; when it comes back the claim
//     is done (all skipped) or open (whoever was recorded is skipped). No
//     duplicate.
//   - Crash after Claim, before SES: nothing sent; the claim's lease (2 min)
//     ends and the redelivery sends everyone. No duplicate, no skip.
//   - Crash (or SES's answer lost) after SES accepted a call and before its
//     Record is written: the redelivery, after the lease, finds no record
//     of that call's recipients and sends them again. This is the
//     documented at-least-once window: at most one duplicate per recipient
//     of that call per crash, never a skip. Treating an unrecorded claim as
//     sent would instead skip readers whose send never happened, which is
//     worse for a newsletter. A Record that fails is the same window: the
//     claim is kept, so the rest of the batch waits for the lease too.
//   - Crash after Record, before the next call of a chunked batch: after
//     the lease the redelivery claims, and skips everyone recorded. No
//     duplicate.
//   - An invocation that outlives its lease (2 min, against a batch that
//     takes seconds) while another claims the batch: both may send the same
//     recipients. The lease is the bound that keeps this from happening;
//     the late Record still writes its outcomes, finds it lost the claim,
//     and stops sending.
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
	"strconv"
	"sync"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/mergetag"
)

// ClaimState is what the ledger says about a batch claim (Claimed, Done,
// InFlight) or a recipient's record (Sent, Failed, Suppressed).
type ClaimState int

// Claim and record states.
const (
	Claimed    ClaimState = iota // the batch is ours to send now
	Sent                         // recipient: SES accepted it
	InFlight                     // batch: another invocation holds a live lease
	Failed                       // recipient: failed for good
	Done                         // batch: every one of these recipients is recorded
	Suppressed                   // recipient: left after the batch was planned; not sent
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

// Ledger records delivery of an issue: one item per batch holding its
// claim and its recipients' outcomes (see the package documentation).
type Ledger interface {
	// Claim takes batch k for owner until now+lease. Claimed comes with
	// what earlier deliveries recorded for the batch's recipients (Sent,
	// Failed or Suppressed, by subscriber ID; they are skipped); Done means every one of
	// them is recorded, InFlight that a live invocation holds the batch.
	// pending is how many recipients the batch has (for `gazette issue
	// status`).
	Claim(ctx context.Context, k BatchKey, owner string, pending int, now time.Time, lease time.Duration) (ClaimState, map[string]ClaimState, error)
	// Record adds outcomes (State Sent, Failed or Suppressed) to batch k
	// and, when
	// rel.End is set, ends owner's claim in the same write. The write is
	// all or nothing. When owner no longer holds the claim the outcomes are
	// written all the same and the error is of kind gazette.KindConflict:
	// the successor's claim is left alone.
	Record(ctx context.Context, k BatchKey, owner string, rs []Record, rel Release) error
}

// Release says how a Record ends the claim: not at all (more SES calls of
// the batch follow), done (every recipient recorded), or open with Pending
// recipients left for the next delivery, which may take it at once.
type Release struct {
	End     bool
	Done    bool
	Pending int
	Reason  string // why recipients are left, for `gazette issue status`
}

// Record is one recipient's outcome: State is Sent (with MessageID),
// Failed (with Reason) or Suppressed.
type Record struct {
	Recipient string
	State     ClaimState
	MessageID string
	Reason    string
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

// Sender sends one templated bulk call. shared are headers every message of
// the call carries with the same value; each message's Headers are its own.
type Sender interface {
	SendBulk(ctx context.Context, template string, tags map[string]string, shared []Header, msgs []Message) ([]Outcome, error)
}

// OneClick is the RFC 8058 header that makes List-Unsubscribe one-click.
// It is the same on every message, so it goes once per call (SES: the
// template's default headers) instead of once per recipient.
var OneClick = []Header{{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}}

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

// Departures says who left since a time: subscribers who unsubscribed,
// bounced or complained (dynamo.Subscribers' suppression log).
type Departures interface {
	SuppressedSince(ctx context.Context, since, now time.Time) (map[string]bool, error)
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
	// Quota, Guard and Departures are optional: nil sends without a daily
	// quota, a reputation guard, or skipping those who left after their
	// batch was planned.
	Quota      Quota
	Guard      IssueGuard
	Departures Departures
	// DeparturesTTL is how long the departures read for one batch serve
	// the next ones (default 30 s): one read per container and half
	// minute, not one per batch, keeps the check off the per-recipient
	// cost. A reader who leaves less than that before their batch goes
	// out may still get the issue.
	DeparturesTTL time.Duration
	// Chunk is the most recipients per SES call (≤ 50); smaller when the
	// per-instance send rate is below 50 a second, so that a call never
	// needs more than one second's budget.
	Chunk int
	// Lease is how long a batch claim stops other invocations from sending
	// the same batch; longer than the batch's SES calls plus ledger writes.
	Lease time.Duration
	Now   func() time.Time
	Log   *slog.Logger

	mu       sync.Mutex
	departed departures // cached, see departedSince
}

// departures is a cached read of Departures.
type departures struct {
	ids         map[string]bool
	since, read time.Time
}

// Result counts what happened to a batch's recipients: Suppressed are
// those who left after the batch was planned (recorded, not sent).
type Result struct {
	Sent, Skipped, Failed, Retry, Suppressed int
}

func (r *Result) add(o Result) {
	r.Sent += o.Sent
	r.Skipped += o.Skipped
	r.Failed += o.Failed
	r.Retry += o.Retry
	r.Suppressed += o.Suppressed
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
	departed, err := s.departedSince(ctx, b)
	if err != nil {
		res.Retry = n
		return res, err
	}
	k := KeyOf(b)
	owner := newOwner()
	st, known, err := s.Ledger.Claim(ctx, k, owner, n, s.Now(), s.Lease)
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

	// Whoever an earlier delivery recorded is skipped; whoever left after
	// the batch was planned is recorded as suppressed, with the first
	// chunk's outcomes, and not sent; the rest go out in chunks of at most
	// one SES call each.
	todo := b.Recipients
	var suppressed []Record
	if len(known) > 0 || len(departed) > 0 {
		todo = make([]gazette.Recipient, 0, n)
		for _, r := range b.Recipients {
			_, recorded := known[r.SubscriberID]
			switch {
			case recorded:
				res.Skipped++
			case departed[r.SubscriberID]:
				suppressed = append(suppressed, Record{Recipient: r.SubscriberID, State: Suppressed})
			default:
				todo = append(todo, r)
			}
		}
	}
	if res.Skipped > 0 {
		s.Log.InfoContext(ctx, "recipients already handled", "issue", b.Issue, "batch", b.Batch, "skipped", res.Skipped)
	}
	chunk := min(max(s.Chunk, 1), gazette.MaxBatchRecipients)
	var firstErr error
	for start := 0; start < len(todo) || start == 0; start += chunk {
		part := todo[start:min(start+chunk, len(todo))]
		err := s.sendChunk(ctx, b, k, owner, part, suppressed, start+chunk >= len(todo), &res)
		suppressed = nil
		if err != nil {
			firstErr = err
			// Everyone not yet attempted goes to the redelivery.
			res.Retry += len(todo) - start - len(part)
			break
		}
	}
	// The last chunk's Record released the claim. A failed Record keeps it
	// (or lost it to another invocation); any other failure sent nothing of
	// its chunk, so the claim is opened for the redelivery at once.
	if firstErr != nil && !errors.As(firstErr, new(recordFailed)) {
		// Nothing of the failed chunk was sent: open the claim for the
		// redelivery at once instead of making it wait for the lease.
		rel := Release{End: true, Pending: res.Retry, Reason: firstErr.Error()}
		if err := s.Ledger.Record(ctx, k, owner, nil, rel); err != nil {
			// The claim then ends with its lease. That only delays a retry.
			s.Log.WarnContext(ctx, "release failed; the claim expires with its lease", "issue", b.Issue,
				"batch", b.Batch, "error", err.Error())
		}
	}
	s.Log.InfoContext(ctx, "batch done", "issue", b.Issue, "batch", b.Batch, "sent", res.Sent,
		"skipped", res.Skipped, "failed", res.Failed, "retry", res.Retry, "suppressed", res.Suppressed)
	if firstErr != nil {
		return res, fmt.Errorf("send issue %d batch %d: %w", b.Issue, b.Batch, firstErr)
	}
	if res.Retry > 0 {
		return res, gazette.Errorf(gazette.KindThrottled, "retry",
			"send issue %d batch %d: %d recipients to retry", b.Issue, b.Batch, res.Retry)
	}
	return res, nil
}

// recordFailed marks a Record error: SES answered and the outcomes may be
// unwritten, so the claim must stay until its lease ends; or the claim was
// lost to another invocation, which carries on with the batch.
type recordFailed struct{ err error }

func (e recordFailed) Error() string { return "record outcomes: " + e.err.Error() }
func (e recordFailed) Unwrap() error { return e.err }

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

// departedSince returns who left since the batch was planned (a day back
// for a batch without PlannedAt), from a read at most DeparturesTTL old
// that reaches back far enough.
func (s *Service) departedSince(ctx context.Context, b gazette.SendBatch) (map[string]bool, error) {
	if s.Departures == nil {
		return nil, nil
	}
	now := s.Now()
	since := b.PlannedAt
	if since.IsZero() {
		since = now.Add(-24 * time.Hour)
	}
	ttl := s.DeparturesTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.departed; d.ids != nil && now.Sub(d.read) < ttl && !d.since.After(since) {
		return d.ids, nil
	}
	ids, err := s.Departures.SuppressedSince(ctx, since, now)
	if err != nil {
		return nil, fmt.Errorf("send issue %d batch %d: read departures: %w", b.Issue, b.Batch, err)
	}
	if ids == nil {
		ids = map[string]bool{}
	}
	s.departed = departures{ids: ids, since: since, read: now}
	return ids, nil
}

// sendChunk sends one SES call's worth of the batch and records the
// outcomes, with suppressed ones of recipients not sent; with last set,
// that Record also releases the claim. part may be empty (everyone was
// recorded before): then only the release is written. A returned error means the chunk's unsent
// recipients were counted as Retry; a recordFailed one means SES answered
// and its outcomes may be unwritten (or the claim was lost).
func (s *Service) sendChunk(ctx context.Context, b gazette.SendBatch, k BatchKey, owner string, part []gazette.Recipient, suppressed []Record, last bool, res *Result) error {
	var outcomes []Outcome
	if len(part) > 0 {
		var err error
		if outcomes, err = s.send(ctx, b, part); err != nil {
			// Nothing of this chunk was sent: all of it may go again (and
			// the suppressed, unrecorded, are found again next time).
			res.Retry += len(part) + len(suppressed)
			s.Log.WarnContext(ctx, "bulk send failed", "issue", b.Issue, "batch", b.Batch,
				"kind", gazette.KindOf(err).String(), "recipients", len(part), "error", err.Error())
			return err
		}
	}
	rs := make([]Record, 0, len(part)+len(suppressed))
	rs = append(rs, suppressed...)
	counts := Result{Suppressed: len(suppressed)}
	for i, r := range part {
		o := outcomes[i]
		switch {
		case o.Err == nil:
			rs = append(rs, Record{Recipient: r.SubscriberID, State: Sent, MessageID: o.MessageID})
			counts.Sent++
			continue
		case gazette.Retryable(o.Err):
			// Not recorded: no record is "not sent yet".
			counts.Retry++
		default:
			rs = append(rs, Record{Recipient: r.SubscriberID, State: Failed, Reason: o.Err.Error()})
			counts.Failed++
			s.Log.WarnContext(ctx, "recipient failed", "issue", b.Issue, "subscriber", r.SubscriberID, "error", o.Err.Error())
		}
	}
	if s.Quota != nil {
		// What SES did not accept was not sent: it goes back to the quota.
		s.Quota.Give(counts.Retry + counts.Failed)
	}
	rel := Release{}
	if last {
		pending := res.Retry + counts.Retry
		rel = Release{End: true, Done: pending == 0, Pending: pending}
		if pending > 0 {
			rel.Reason = fmt.Sprintf("%d recipients to retry", pending)
		}
	}
	if err := s.Ledger.Record(ctx, k, owner, rs, rel); err != nil {
		if gazette.KindOf(err) == gazette.KindConflict {
			// The outcomes are written; the claim is someone else's now
			// (our lease ran out), so stop and let them finish the batch.
			res.add(counts)
			s.Log.WarnContext(ctx, "claim lost to another invocation; outcomes recorded", "issue", b.Issue,
				"batch", b.Batch, "error", err.Error())
			// Retryable: the redelivery finds the batch in flight or done.
			return recordFailed{gazette.Wrap(gazette.KindThrottled, "claim_lost", err)}
		}
		// The outcomes count as retry (the redelivery finds no record of
		// them) and the claim is kept until its lease ends. For those SES
		// accepted, this is the documented at-least-once window.
		res.Retry += len(part) + len(suppressed)
		s.Log.WarnContext(ctx, "ledger write failed after SES answered; the claim is kept until its lease ends",
			"issue", b.Issue, "batch", b.Batch, "unwritten", len(rs), "error", err.Error())
		return recordFailed{err}
	}
	res.add(counts)
	return nil
}

// send personalises part and sends it in one SES call, after the daily
// quota and the limiter.
func (s *Service) send(ctx context.Context, b gazette.SendBatch, part []gazette.Recipient) ([]Outcome, error) {
	msgs := make([]Message, len(part))
	for i, r := range part {
		var err error
		if msgs[i], err = s.message(r); err != nil {
			return nil, err
		}
	}
	if s.Quota != nil {
		if err := s.Quota.Take(ctx, len(part)); err != nil {
			return nil, err
		}
	}
	if err := s.Limiter.Wait(ctx, len(part)); err != nil {
		if s.Quota != nil {
			s.Quota.Give(len(part))
		}
		return nil, err
	}
	tags := map[string]string{"issue": strconv.Itoa(b.Issue), "batch": strconv.Itoa(b.Batch)}
	if b.Segment != "" {
		tags["segment"] = b.Segment
	}
	outcomes, err := s.Sender.SendBulk(ctx, b.Template, tags, OneClick, msgs)
	if err != nil {
		if s.Quota != nil {
			s.Quota.Give(len(part))
		}
		return nil, err
	}
	return outcomes, nil
}

// message personalises the issue for one recipient: template data and the
// List-Unsubscribe header with the recipient's link (with OneClick, RFC
// 8058's one-click unsubscribe).
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
		To:      r.Email,
		Data:    mergetag.RecipientData(r.Name, unsub, prefs),
		Headers: []Header{{Name: "List-Unsubscribe", Value: "<" + unsub + ">"}},
	}, nil
}
