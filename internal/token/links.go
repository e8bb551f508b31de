package token

import (
	"fmt"
	"strings"
	"time"
)

// How long each kind of link works. Unsubscribe links must keep working
// long after the mail was sent (RFC 8058 mailbox providers call them
// whenever the reader clicks), so they live as long as preferences links.
const (
	ConfirmTTL     = 48 * time.Hour
	UnsubscribeTTL = 400 * 24 * time.Hour
	PreferencesTTL = 400 * 24 * time.Hour
)

// Links builds the public URLs of the subscription pages.
type Links struct {
	Base   string // e.g. https://news.example.com or the HTTP API's URL; no trailing slash needed
	Signer *Signer
	Now    func() time.Time
}

// ConfirmURL is the double opt-in link of a subscriber.
func (l Links) ConfirmURL(subscriberID string) (string, error) {
	return l.url("/confirm", subscriberID, Confirm, ConfirmTTL)
}

// UnsubscribeURL is the one-click unsubscribe link (page on GET, RFC 8058 on POST).
func (l Links) UnsubscribeURL(subscriberID string) (string, error) {
	return l.url("/unsubscribe", subscriberID, Unsubscribe, UnsubscribeTTL)
}

// PreferencesURL is the link to change name and topics.
func (l Links) PreferencesURL(subscriberID string) (string, error) {
	return l.url("/preferences", subscriberID, Preferences, PreferencesTTL)
}

func (l Links) url(path, id string, p Purpose, ttl time.Duration) (string, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	tok, err := l.Signer.Sign(id, p, now().Add(ttl))
	if err != nil {
		return "", fmt.Errorf("link %s: %w", path, err)
	}
	// A token is base64url: nothing in it needs escaping in a query.
	return strings.TrimRight(l.Base, "/") + path + "?token=" + tok, nil
}
