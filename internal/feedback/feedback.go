// Package feedback reads what SES says happened to sent mail (bounces,
// complaints, deliveries) and acts on it: a permanent bounce or a complaint
// suppresses the subscriber at once and for good, transient bounces are
// only counted, and every event adds to its issue's statistics.
//
// Both formats SES publishes are read: configuration-set event publishing
// ("eventType") and the classic identity notifications ("notificationType"),
// each either raw or inside an SNS envelope.
package feedback

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

// Event is the part of an SES event Gazette uses.
type Event struct {
	Type       string   // Bounce, Complaint, Delivery, Send, Reject, …
	BounceType string   // Permanent, Transient, Undetermined
	Recipients []string // addresses the event is about
	Issue      int      // from the mail's "issue" tag; 0 if absent
	Timestamp  time.Time
}

type sesEvent struct {
	EventType        string `json:"eventType"`
	NotificationType string `json:"notificationType"`
	Mail             struct {
		Timestamp   time.Time           `json:"timestamp"`
		Destination []string            `json:"destination"`
		Tags        map[string][]string `json:"tags"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string `json:"bounceType"`
		BouncedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Delivery *struct {
		Recipients []string `json:"recipients"`
	} `json:"delivery"`
}

// Parse reads one SQS message body: an SNS envelope around an SES event, or
// the SES event itself (raw message delivery). Anything else is
// gazette.KindInvalid.
func Parse(body []byte) (Event, error) {
	var env struct {
		Type    string `json:"Type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Event{}, gazette.Wrap(gazette.KindInvalid, "bad_event", fmt.Errorf("not JSON: %w", err))
	}
	if env.Type == "Notification" {
		body = []byte(env.Message)
	}
	var e sesEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, gazette.Wrap(gazette.KindInvalid, "bad_event", fmt.Errorf("SES event is not JSON: %w", err))
	}
	ev := Event{Type: e.EventType, Timestamp: e.Mail.Timestamp}
	if ev.Type == "" {
		ev.Type = e.NotificationType
	}
	if ev.Type == "" {
		return Event{}, gazette.Errorf(gazette.KindInvalid, "bad_event", "neither eventType nor notificationType is set")
	}
	switch {
	case e.Bounce != nil:
		ev.BounceType = e.Bounce.BounceType
		for _, r := range e.Bounce.BouncedRecipients {
			ev.Recipients = append(ev.Recipients, r.EmailAddress)
		}
	case e.Complaint != nil:
		for _, r := range e.Complaint.ComplainedRecipients {
			ev.Recipients = append(ev.Recipients, r.EmailAddress)
		}
	case e.Delivery != nil:
		ev.Recipients = e.Delivery.Recipients
	default:
		ev.Recipients = e.Mail.Destination
	}
	if tags := e.Mail.Tags["issue"]; len(tags) > 0 {
		ev.Issue, _ = strconv.Atoi(tags[0])
	}
	return ev, nil
}

// Subscribers suppresses subscribers.
type Subscribers interface {
	Suppress(ctx context.Context, id string, status gazette.SubscriberStatus, reason string, at time.Time) error
}

// Stats counts events per issue.
type Stats interface {
	Count(ctx context.Context, issue int, counter string, n int) error
}

// Service acts on SES events.
type Service struct {
	Subscribers Subscribers
	Stats       Stats
	Now         func() time.Time
	Log         *slog.Logger
}

// Handle acts on one event. Suppressing is idempotent, so a redelivered
// event does no harm; counters may count a redelivered event twice, which
// only statistics (never who gets mail) can show.
func (s *Service) Handle(ctx context.Context, ev Event) error {
	var status gazette.SubscriberStatus
	switch {
	case ev.Type == "Bounce" && ev.BounceType == "Permanent":
		status = gazette.SubscriberBounced
	case ev.Type == "Complaint":
		status = gazette.SubscriberComplained
	}
	if status != "" {
		for _, addr := range ev.Recipients {
			id := gazette.SubscriberID(addr)
			reason := strings.ToLower(ev.Type)
			if ev.BounceType != "" {
				reason += " (" + strings.ToLower(ev.BounceType) + ")"
			}
			err := s.Subscribers.Suppress(ctx, id, status, reason, s.Now().UTC())
			switch {
			case gazette.KindOf(err) == gazette.KindNotFound:
				s.Log.InfoContext(ctx, "feedback for an unknown subscriber", "subscriber", id, "type", ev.Type)
			case err != nil:
				return fmt.Errorf("feedback %s: suppress %s: %w", ev.Type, id, err)
			default:
				s.Log.InfoContext(ctx, "subscriber suppressed", "subscriber", id, "status", status, "issue", ev.Issue)
			}
		}
	}
	if ev.Issue > 0 && s.Stats != nil {
		counter := strings.ToLower(ev.Type)
		if ev.Type == "Bounce" && ev.BounceType != "Permanent" {
			counter = "transientBounce"
		}
		if err := s.Stats.Count(ctx, ev.Issue, counter, max(1, len(ev.Recipients))); err != nil {
			return fmt.Errorf("feedback %s: count for issue %d: %w", ev.Type, ev.Issue, err)
		}
	}
	return nil
}
