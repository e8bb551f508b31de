// Package delivery sends one batch of an issue to its recipients, exactly
// once each as far as SES lets anyone know.
//
// Every recipient has a ledger record per issue. Before SES is called the
// record is claimed with a lease; after SES answers it is marked sent (with
// SES's message ID), released for a retry, or marked failed. A redelivered
// batch therefore skips whoever was sent already and retries the rest.
//
// The one window the ledger cannot close is between SES accepting a message
// and the "sent" write: if the process dies there, the claim's lease expires
// and the next delivery sends again. That is at-least-once for that window
// only; the alternative (treating an expired claim as sent) would silently
// skip subscribers whose send never happened, which is worse for a
// newsletter than a rare duplicate.
package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gazette-news/gazette/internal/digest"
	"github.com/gazette-news/gazette/internal/gazette"
)

// ClaimState is what the ledger says about a recipient when we try to claim it.
type ClaimState int

// Claim states.
const (
	Claimed  ClaimState = iota // ours to send now
	Sent                       // already sent: skip
	InFlight                   // another invocation holds a live lease: retry later
	Failed                     // failed for good earlier: skip
)

// Ledger records per-recipient delivery of an issue.
type Ledger interface {
	Claim(ctx context.Context, issue int, recipient string, now time.Time, lease time.Duration) (ClaimState, error)
	MarkSent(ctx context.Context, issue int, recipient, messageID string, at time.Time) error
	Release(ctx context.Context, issue int, recipient, reason string) error
	MarkFailed(ctx context.Context, issue int, recipient, reason string) error
}

// BatchLedger is a Ledger that can also claim and record a whole chunk in
// one call each (the DynamoDB ledger: one transaction). The Service uses it
// when the Ledger has it: two ledger calls per SES call instead of two per
// recipient, which is most of the client's CPU per recipient otherwise.
type BatchLedger interface {
	Ledger
	// ClaimMany claims each recipient as Claim would, in order. On an error
	// the claims it made stay until their lease ends.
	ClaimMany(ctx context.Context, issue int, recipients []string, now time.Time, lease time.Duration) ([]ClaimState, error)
	// RecordMany writes every outcome, or none (then it returns an error
	// and the Service writes them one by one).
	RecordMany(ctx context.Context, issue int, rs []Record) error
}

// Record is one recipient's outcome for RecordMany: State is Sent (with
// MessageID and At), Failed (with Reason), or Claimed meaning "release for
// a retry" (with Reason).
type Record struct {
	Recipient string
	State     ClaimState
	MessageID string
	At        time.Time
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
	// Lease is how long a claim stops other invocations from sending to the
	// same recipient; longer than one SES call plus the ledger writes.
	Lease time.Duration
	Now   func() time.Time
	Log   *slog.Logger
}

// Result counts what happened to a batch's recipients.
type Result struct {
	Sent, Skipped, Failed, Retry int
}

// SendBatch sends batch b. It returns an error when some recipients must be
// retried (throttling, SES outage, another invocation in flight): the
// caller hands the batch back to SQS, and the redelivery skips everyone
// already sent. Permanent per-recipient failures are recorded, not retried.
//
// Two errors stop a batch before anything is claimed, and the caller parks
// it instead of retrying at once: code CodePaused (the reputation guard
// paused the issue) and code CodeDailyQuota (the 24-hour quota is nearly
// used). Recipients claimed when the quota runs out part-way are released.
func (s *Service) SendBatch(ctx context.Context, b gazette.SendBatch) (Result, error) {
	var res Result
	if err := s.gate(ctx, b); err != nil {
		res.Retry = len(b.Recipients)
		return res, err
	}
	var todo []gazette.Recipient
	states, err := s.claimAll(ctx, b)
	if err != nil {
		res.Retry = len(b.Recipients)
		return res, fmt.Errorf("send issue %d batch %d: %w", b.Issue, b.Batch, err)
	}
	for i, r := range b.Recipients {
		var st ClaimState
		var err error
		if states != nil {
			st = states[i]
		} else {
			st, err = s.Ledger.Claim(ctx, b.Issue, r.SubscriberID, s.Now(), s.Lease)
		}
		if err != nil {
			// Hand back what we claimed so far, so that the redelivery can
			// take it at once instead of waiting out the lease.
			s.release(ctx, b, todo, err, &res)
			return res, fmt.Errorf("send issue %d batch %d: %w", b.Issue, b.Batch, err)
		}
		switch st {
		case Claimed:
			todo = append(todo, r)
		case Sent, Failed:
			res.Skipped++
		case InFlight:
			res.Retry++
		}
	}
	if res.Skipped > 0 {
		s.Log.InfoContext(ctx, "recipients already handled", "issue", b.Issue, "batch", b.Batch, "skipped", res.Skipped)
	}

	chunk := min(max(s.Chunk, 1), gazette.MaxBatchRecipients)
	var firstErr error
	for start := 0; start < len(todo); start += chunk {
		part := todo[start:min(start+chunk, len(todo))]
		if err := s.sendChunk(ctx, b, part, &res); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			// Release everyone not yet attempted, so a redelivery takes them
			// at once instead of waiting out their lease.
			s.release(ctx, b, todo[start+len(part):], fmt.Errorf("not attempted: %w", err), &res)
			break
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

// claimAll claims the whole batch in one call when the ledger can; nil
// states mean "claim one by one".
func (s *Service) claimAll(ctx context.Context, b gazette.SendBatch) ([]ClaimState, error) {
	bl, ok := s.Ledger.(BatchLedger)
	if !ok {
		return nil, nil
	}
	ids := make([]string, len(b.Recipients))
	for i, r := range b.Recipients {
		ids[i] = r.SubscriberID
	}
	return bl.ClaimMany(ctx, b.Issue, ids, s.Now(), s.Lease)
}

// recordAll writes a chunk's outcomes in one call when the ledger can, and
// counts them; false means "write them one by one".
func (s *Service) recordAll(ctx context.Context, b gazette.SendBatch, part []gazette.Recipient, outcomes []Outcome, res *Result) bool {
	bl, ok := s.Ledger.(BatchLedger)
	if !ok {
		return false
	}
	rs := make([]Record, len(part))
	now := s.Now()
	var counts Result
	for i, r := range part {
		o := outcomes[i]
		switch {
		case o.Err == nil:
			rs[i] = Record{Recipient: r.SubscriberID, State: Sent, MessageID: o.MessageID, At: now}
			counts.Sent++
		case gazette.Retryable(o.Err):
			rs[i] = Record{Recipient: r.SubscriberID, State: Claimed, Reason: o.Err.Error()}
			counts.Retry++
		default:
			rs[i] = Record{Recipient: r.SubscriberID, State: Failed, Reason: o.Err.Error()}
			counts.Failed++
		}
	}
	if err := bl.RecordMany(ctx, b.Issue, rs); err != nil {
		s.Log.WarnContext(ctx, "batched ledger write failed; writing one by one", "issue", b.Issue, "batch", b.Batch, "error", err.Error())
		return false
	}
	for i, o := range outcomes[:len(part)] {
		if o.Err != nil {
			if s.Quota != nil {
				s.Quota.Give(1)
			}
			if !gazette.Retryable(o.Err) {
				s.Log.WarnContext(ctx, "recipient failed", "issue", b.Issue, "subscriber", part[i].SubscriberID, "error", o.Err.Error())
			}
		}
	}
	res.Sent += counts.Sent
	res.Retry += counts.Retry
	res.Failed += counts.Failed
	return true
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

// sendChunk sends one SES call's worth of claimed recipients and records the
// outcome of each. A returned error means the call itself failed and every
// recipient in part was released.
func (s *Service) sendChunk(ctx context.Context, b gazette.SendBatch, part []gazette.Recipient, res *Result) error {
	msgs := make([]Message, len(part))
	var err error
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
		s.release(ctx, b, part, err, res)
		s.Log.WarnContext(ctx, "bulk send failed", "issue", b.Issue, "batch", b.Batch,
			"kind", gazette.KindOf(err).String(), "recipients", len(part), "error", err.Error())
		return err
	}
	if s.recordAll(ctx, b, part, outcomes, res) {
		return nil
	}
	// Record every outcome even when one write fails: SES has answered for
	// all of them, and an unrecorded success would be sent again after its
	// lease. The first write error is returned once all are attempted.
	var firstErr error
	for i, r := range part {
		o := outcomes[i]
		var werr error
		switch {
		case o.Err == nil:
			if werr = s.Ledger.MarkSent(ctx, b.Issue, r.SubscriberID, o.MessageID, s.Now()); werr == nil {
				res.Sent++
			}
		case gazette.Retryable(o.Err):
			if s.Quota != nil {
				s.Quota.Give(1)
			}
			if werr = s.Ledger.Release(ctx, b.Issue, r.SubscriberID, o.Err.Error()); werr == nil {
				res.Retry++
			}
		default:
			if s.Quota != nil {
				s.Quota.Give(1)
			}
			if werr = s.Ledger.MarkFailed(ctx, b.Issue, r.SubscriberID, o.Err.Error()); werr == nil {
				res.Failed++
				s.Log.WarnContext(ctx, "recipient failed", "issue", b.Issue, "subscriber", r.SubscriberID, "error", o.Err.Error())
			}
		}
		if werr != nil {
			// The claim stays until its lease ends: for a sent message this
			// is the documented at-least-once window.
			if firstErr == nil {
				firstErr = fmt.Errorf("record outcome: %w", werr)
			}
		}
	}
	return firstErr
}

// release hands recipients back to the ledger for a later attempt. A
// release that fails leaves the claim to expire with its lease, which only
// delays that recipient.
func (s *Service) release(ctx context.Context, b gazette.SendBatch, rs []gazette.Recipient, cause error, res *Result) {
	for _, r := range rs {
		if err := s.Ledger.Release(ctx, b.Issue, r.SubscriberID, cause.Error()); err != nil {
			s.Log.WarnContext(ctx, "release failed; the claim expires with its lease", "issue", b.Issue,
				"subscriber", r.SubscriberID, "error", err.Error())
		}
		res.Retry++
	}
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
