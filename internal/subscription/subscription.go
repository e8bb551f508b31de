// Package subscription is the subscription API's core: double opt-in
// sign-up, confirmation, one-click unsubscribe and preferences. It speaks
// to the world through the ports declared here (Store, Mailer and a clock)
// and imports nothing from AWS, so every rule below is tested without a
// network.
//
// Rules it keeps:
//   - a sign-up answers the same whether the address is new, pending,
//     confirmed or suppressed, and mails one address at most once per
//     Config.MailInterval, so the form can be used neither to find out who
//     subscribes nor to flood someone's inbox;
//   - a confirmed subscriber who signs up again stays confirmed;
//   - unsubscribed, bounced and complained addresses stay so until the
//     person follows a confirmation link sent after a new sign-up;
//   - every status change is kept in the record's history with when and why.
package subscription

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/token"
)

// Defaults for Config.
const (
	DefaultMailInterval = 10 * time.Minute
	DefaultPendingTTL   = 7 * 24 * time.Hour
	// MaxHistory is how many transitions a record keeps; older ones are
	// dropped so that an item stays far below DynamoDB's 400 KB.
	MaxHistory = 20
)

// Why a transition happened, as recorded in a subscriber's history.
const (
	WhySignUp        = "sign-up form"
	WhyOptInAgain    = "sign-up form, new opt-in requested"
	WhyConfirmLink   = "confirmation link"
	WhyUnsubscribe   = "unsubscribe link"
	WhyOneClick      = "one-click unsubscribe (RFC 8058)"
	WhyImport        = "import"
	WhyForget        = "erased on request"
	WhyOptInCanceled = "unsubscribe link, pending opt-in cancelled"
)

// Transition is one entry of a subscriber's history.
type Transition struct {
	At   time.Time
	From gazette.SubscriberStatus // "" for the record's creation
	To   gazette.SubscriberStatus
	Why  string
}

// Record is a subscriber as the store keeps it: the domain fields plus
// what the subscription rules need.
type Record struct {
	gazette.Subscriber
	// History holds the last MaxHistory transitions, oldest first.
	History []Transition
	// LastMailAt is when the last sign-up mail went to this address.
	LastMailAt time.Time
	// OptInAt is set when a suppressed (unsubscribed, bounced, complained)
	// address asked to subscribe again; only then may a confirmation link
	// lift the suppression. It is cleared by confirming or unsubscribing.
	OptInAt time.Time
	// ExpiresAt is when the store may delete a record that was never
	// confirmed (DynamoDB TTL); zero for every other record.
	ExpiresAt time.Time
	// Version is the store's optimistic-concurrency counter: 0 for a record
	// that was never saved.
	Version int64
}

// Move changes the record's status and records the transition, keeping at
// most MaxHistory entries.
func (r *Record) Move(to gazette.SubscriberStatus, why string, at time.Time) {
	r.History = append(r.History, Transition{At: at, From: r.Status, To: to, Why: why})
	if n := len(r.History) - MaxHistory; n > 0 {
		r.History = append(r.History[:0:0], r.History[n:]...)
	}
	r.Status = to
	r.Reason = why
	r.UpdatedAt = at
}

// Suppressed reports whether status means "never mail": unsubscribed,
// bounced or complained.
func Suppressed(s gazette.SubscriberStatus) bool {
	switch s {
	case gazette.SubscriberUnsubscribed, gazette.SubscriberBounced, gazette.SubscriberComplained:
		return true
	}
	return false
}

// Store keeps subscriber records.
type Store interface {
	// Load returns the record with this ID, or an error of kind
	// gazette.KindNotFound.
	Load(ctx context.Context, id string) (Record, error)
	// Save writes r if the stored record still has version prev (0: does
	// not exist yet) and returns an error of kind gazette.KindConflict
	// otherwise. The store sets r.Version to prev+1.
	Save(ctx context.Context, r Record, prev int64) error
}

// Mailer sends the double opt-in mail.
type Mailer interface {
	// SendConfirmation mails to the link that confirms a sign-up.
	SendConfirmation(ctx context.Context, to, name, confirmURL string) error
}

// Config tunes a Service. Zero values take the defaults.
type Config struct {
	// Topics is the fixed set a subscriber may choose from, lower case.
	// Subscribers who choose none get every topic.
	Topics []string
	// MailInterval is the least time between two sign-up mails to one
	// address (DefaultMailInterval).
	MailInterval time.Duration
	// PendingTTL is how long an unconfirmed sign-up is kept (DefaultPendingTTL).
	PendingTTL time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger gets one line per state change (discarded when nil).
	Logger *slog.Logger
}

// Service is the subscription core. It is safe for concurrent use.
type Service struct {
	store  Store
	mailer Mailer
	signer *token.Signer
	cfg    Config
	log    *slog.Logger
}

// New returns a Service that keeps records in store, mails through mailer
// and signs links with signer.
func New(store Store, mailer Mailer, signer *token.Signer, cfg Config) *Service {
	if cfg.MailInterval <= 0 {
		cfg.MailInterval = DefaultMailInterval
	}
	if cfg.PendingTTL <= 0 {
		cfg.PendingTTL = DefaultPendingTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, mailer: mailer, signer: signer, cfg: cfg, log: log}
}

// Topics returns the topics subscribers may choose from.
func (s *Service) Topics() []string { return append([]string(nil), s.cfg.Topics...) }

// SignUp is what the sign-up form sends.
type SignUp struct {
	Email  string
	Name   string
	Topics []string
}

// Profile is what the pages show about a subscriber: never the address.
type Profile struct {
	Name   string
	Topics []string
	Status gazette.SubscriberStatus
	// Changed is false when the call found things already as asked
	// (a second click on a link).
	Changed bool
	// UnsubscribeToken lets the preferences page offer an unsubscribe
	// button; set by Preferences and UpdatePreferences only.
	UnsubscribeToken string
}

func profile(r Record, changed bool) Profile {
	return Profile{Name: r.Name, Topics: r.Topics, Status: r.Status, Changed: changed}
}

// maxAttempts bounds the read-modify-write loops: losing more races than
// this on one address means something is hammering it.
const maxAttempts = 4

// errBusy is update's answer when every attempt lost a race.
var errBusy = gazette.Errorf(gazette.KindThrottled, "busy", "too many concurrent changes to this subscription, try again")

// update loads the record id, lets change modify it and saves it under an
// optimistic lock, retrying when another request won the race. change
// returns false when there is nothing to save. A record that does not
// exist is an error of kind gazette.KindNotFound, unless create is not
// nil: then change starts from create's record. When every attempt loses
// a race, update returns errBusy.
func (s *Service) update(ctx context.Context, id string, create func() Record, change func(r *Record) (bool, error)) (Record, bool, error) {
	for range maxAttempts {
		r, err := s.store.Load(ctx, id)
		if create != nil && gazette.KindOf(err) == gazette.KindNotFound {
			r, err = create(), nil
		}
		if err != nil {
			return Record{}, false, err
		}
		prev := r.Version
		ok, err := change(&r)
		if err != nil || !ok {
			return r, false, err
		}
		err = s.store.Save(ctx, r, prev)
		if gazette.KindOf(err) == gazette.KindConflict {
			continue
		}
		if err != nil {
			return Record{}, false, err
		}
		r.Version = prev + 1
		return r, true, nil
	}
	return Record{}, false, errBusy
}

// verify checks tok for purpose p at the service's current time.
func (s *Service) verify(tok string, p token.Purpose) (string, error) {
	return s.signer.Verify(tok, p, s.cfg.Now())
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
