package subscription

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/token"
)

// Errors of the link-driven calls, shown to the person who clicked.
var (
	// ErrSignUpExpired: the confirmation link names a sign-up that expired
	// (or was erased) before it was confirmed.
	ErrSignUpExpired = gazette.Errorf(gazette.KindNotFound, "signup_expired", "this sign-up has expired; please sign up again")
	// ErrOptInRequired: the address unsubscribed (or bounced) after this
	// confirmation link was sent; only a new sign-up can resubscribe it.
	ErrOptInRequired = gazette.Errorf(gazette.KindConflict, "opt_in_required", "this address has been unsubscribed; please sign up again to resubscribe")
	// ErrNoSubscription: a preferences link names no subscription.
	ErrNoSubscription = gazette.Errorf(gazette.KindNotFound, "subscription_not_found", "there is no subscription for this link")
)

// errSignUpBusy is Subscribe's errBusy.
var errSignUpBusy = gazette.Errorf(gazette.KindThrottled, "busy", "too many concurrent sign-ups for this address, try again")

// Subscribe starts a double opt-in for in.Email: the address gets a mail
// with a confirmation link under baseURL (the public URL of this API). It
// returns nil for every valid sign-up, whether the address was new,
// pending, confirmed or suppressed and whether a mail went out, so that
// the answer tells nobody who subscribes; invalid input is an error of
// kind gazette.KindInvalid.
func (s *Service) Subscribe(ctx context.Context, baseURL string, in SignUp) error {
	addr, err := NormalizeAddress(in.Email)
	if err != nil {
		return err
	}
	name, err := CleanName(in.Name)
	if err != nil {
		return err
	}
	topics, err := cleanTopics(s.cfg.Topics, in.Topics)
	if err != nil {
		return err
	}
	id := gazette.SubscriberID(addr)
	now := s.cfg.Now()

	var from gazette.SubscriberStatus
	var prevMail time.Time
	var why string
	newRecord := func() Record { return Record{Subscriber: gazette.Subscriber{ID: id, CreatedAt: now}} }
	r, saved, err := s.update(ctx, id, newRecord, func(r *Record) (bool, error) {
		if !r.LastMailAt.IsZero() && now.Sub(r.LastMailAt) < s.cfg.MailInterval {
			return false, nil
		}
		from, prevMail, why = r.Status, r.LastMailAt, ""
		switch {
		case r.Status == "":
			r.Email, r.Name, r.Topics = addr, name, topics
			r.ExpiresAt = now.Add(s.cfg.PendingTTL)
			why = WhySignUp
			r.Move(gazette.SubscriberPending, why, now)
		case r.Status == gazette.SubscriberPending:
			// Nobody has proven to own the address yet: the latest form wins.
			r.Email, r.Name, r.Topics = addr, name, topics
			r.ExpiresAt = now.Add(s.cfg.PendingTTL)
			r.UpdatedAt = now
		case r.Status == gazette.SubscriberConfirmed:
			// Not downgraded, and an unproven form does not change a
			// confirmed profile; the mail's link just confirms again.
		case Suppressed(r.Status):
			// Stays suppressed until the new link is followed.
			if r.Email == "" {
				r.Email = addr // erased records keep only the hash
			}
			r.OptInAt = now
			r.UpdatedAt = now
			why = WhyOptInAgain
		}
		r.LastMailAt = now
		return true, nil
	})
	switch {
	case errors.Is(err, errBusy):
		return errSignUpBusy
	case err != nil:
		return wrap("subscribe", err)
	case !saved: // change found the last mail too recent
		s.log.InfoContext(ctx, "sign-up mail rate limited", slog.String("subscriber", id),
			slog.String("status", string(r.Status)), slog.Time("lastMailAt", r.LastMailAt))
		return nil
	}
	if why != "" {
		s.logChange(ctx, id, from, r.Status, why)
	}

	links := token.Links{Base: baseURL, Signer: s.signer, Now: s.cfg.Now}
	u, err := links.ConfirmURL(id)
	if err != nil {
		return wrap("subscribe", err)
	}
	// The stored name, not the form's: an unconfirmed form must not put
	// its text into a mail to someone who already subscribed.
	if err := s.mailer.SendConfirmation(ctx, addr, r.Name, u); err != nil {
		s.releaseMailSlot(ctx, id, now, prevMail)
		return wrap("send confirmation", err)
	}
	s.log.InfoContext(ctx, "confirmation mail sent", slog.String("subscriber", id), slog.String("status", string(r.Status)))
	return nil
}

// releaseMailSlot undoes the rate-limit mark of a mail that could not be
// sent, so that the person can retry at once. Best effort: if it fails the
// person waits MailInterval.
func (s *Service) releaseMailSlot(ctx context.Context, id string, at, prev time.Time) {
	_, _, err := s.update(ctx, id, nil, func(r *Record) (bool, error) {
		if !r.LastMailAt.Equal(at) {
			return false, nil
		}
		r.LastMailAt = prev
		return true, nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "could not release sign-up mail slot", slog.String("subscriber", id), slog.Any("error", err))
	}
}

// Confirm completes a double opt-in with a confirmation token. Following
// the link again changes nothing and succeeds.
func (s *Service) Confirm(ctx context.Context, tok string) (Profile, error) {
	id, err := s.verify(tok, token.Confirm)
	if err != nil {
		return Profile{}, err
	}
	now := s.cfg.Now()
	var from gazette.SubscriberStatus
	r, changed, err := s.update(ctx, id, nil, func(r *Record) (bool, error) {
		from = r.Status
		switch {
		case r.Status == gazette.SubscriberConfirmed:
			return false, nil
		case r.Status == gazette.SubscriberPending,
			Suppressed(r.Status) && !r.OptInAt.IsZero():
			r.Move(gazette.SubscriberConfirmed, WhyConfirmLink, now)
			r.ConfirmedAt = now
			r.OptInAt, r.ExpiresAt = time.Time{}, time.Time{}
			return true, nil
		}
		return false, ErrOptInRequired
	})
	if gazette.KindOf(err) == gazette.KindNotFound {
		return Profile{}, ErrSignUpExpired
	}
	if err != nil {
		return Profile{}, wrap("confirm", err)
	}
	if changed {
		s.logChange(ctx, id, from, r.Status, WhyConfirmLink)
	}
	return profile(r, changed), nil
}

// CheckUnsubscribe verifies an unsubscribe token without using it, for
// the page that asks "unsubscribe?" (mail scanners follow GET links, so
// the GET must not unsubscribe).
func (s *Service) CheckUnsubscribe(tok string) error {
	_, err := s.verify(tok, token.Unsubscribe)
	return err
}

// Unsubscribe stops all mail to the subscriber named by an unsubscribe
// token. oneClick says the request came from a mailbox provider's RFC 8058
// button rather than from our page; it is recorded as the reason. It
// succeeds when there is nothing to do, including for a record that no
// longer exists, so a repeated click or a retried POST is harmless.
func (s *Service) Unsubscribe(ctx context.Context, tok string, oneClick bool) (Profile, error) {
	id, err := s.verify(tok, token.Unsubscribe)
	if err != nil {
		return Profile{}, err
	}
	why := WhyUnsubscribe
	if oneClick {
		why = WhyOneClick
	}
	now := s.cfg.Now()
	var from gazette.SubscriberStatus
	r, changed, err := s.update(ctx, id, nil, func(r *Record) (bool, error) {
		from = r.Status
		switch {
		case r.Status == gazette.SubscriberPending, r.Status == gazette.SubscriberConfirmed:
			r.Move(gazette.SubscriberUnsubscribed, why, now)
			// An unsubscribe is a suppression: it must outlive the
			// pending record's TTL.
			r.OptInAt, r.ExpiresAt = time.Time{}, time.Time{}
			return true, nil
		case !r.OptInAt.IsZero():
			// Still suppressed, and the new opt-in is called off.
			r.OptInAt = time.Time{}
			r.UpdatedAt = now
			return true, nil
		}
		return false, nil
	})
	if gazette.KindOf(err) == gazette.KindNotFound {
		return Profile{Status: gazette.SubscriberUnsubscribed}, nil
	}
	if err != nil {
		return Profile{}, wrap("unsubscribe", err)
	}
	if changed {
		if from != r.Status {
			s.logChange(ctx, id, from, r.Status, why)
		} else {
			s.logChange(ctx, id, from, r.Status, WhyOptInCanceled)
		}
	}
	return profile(r, changed), nil
}

// Preferences returns the name, topics and status a preferences token's
// subscriber has, with an unsubscribe token for the page's button.
func (s *Service) Preferences(ctx context.Context, tok string) (Profile, error) {
	id, err := s.verify(tok, token.Preferences)
	if err != nil {
		return Profile{}, err
	}
	r, err := s.store.Load(ctx, id)
	if gazette.KindOf(err) == gazette.KindNotFound {
		return Profile{}, ErrNoSubscription
	}
	if err != nil {
		return Profile{}, wrap("preferences", err)
	}
	return s.withUnsubscribe(profile(r, false), id)
}

// Update is a change of preferences; nil fields stay as they are.
type Update struct {
	Name *string
	// Topics replaces the chosen topics; an empty list means every topic.
	Topics *[]string
}

// UpdatePreferences changes the name and topics of a preferences token's
// subscriber. It never changes the status.
func (s *Service) UpdatePreferences(ctx context.Context, tok string, u Update) (Profile, error) {
	id, err := s.verify(tok, token.Preferences)
	if err != nil {
		return Profile{}, err
	}
	var name string
	var topics []string
	if u.Name != nil {
		if name, err = CleanName(*u.Name); err != nil {
			return Profile{}, err
		}
	}
	if u.Topics != nil {
		if topics, err = cleanTopics(s.cfg.Topics, *u.Topics); err != nil {
			return Profile{}, err
		}
	}
	now := s.cfg.Now()
	r, changed, err := s.update(ctx, id, nil, func(r *Record) (bool, error) {
		changed := false
		if u.Name != nil && r.Name != name {
			r.Name, changed = name, true
		}
		if u.Topics != nil && !slices.Equal(r.Topics, topics) {
			r.Topics, changed = topics, true
		}
		if changed {
			r.UpdatedAt = now
		}
		return changed, nil
	})
	if gazette.KindOf(err) == gazette.KindNotFound {
		return Profile{}, ErrNoSubscription
	}
	if err != nil {
		return Profile{}, wrap("update preferences", err)
	}
	if changed {
		s.log.InfoContext(ctx, "preferences updated", slog.String("subscriber", id),
			slog.Any("topics", r.Topics), slog.Bool("named", r.Name != ""))
	}
	return s.withUnsubscribe(profile(r, changed), id)
}

func (s *Service) withUnsubscribe(p Profile, id string) (Profile, error) {
	tok, err := s.signer.Sign(id, token.Unsubscribe, s.cfg.Now().Add(token.UnsubscribeTTL))
	if err != nil {
		return Profile{}, wrap("sign unsubscribe token", err)
	}
	p.UnsubscribeToken = tok
	return p, nil
}

func (s *Service) logChange(ctx context.Context, id string, from, to gazette.SubscriberStatus, why string) {
	s.log.InfoContext(ctx, "subscriber "+string(to), slog.String("subscriber", id),
		slog.String("from", string(from)), slog.String("to", string(to)), slog.String("why", why))
}
