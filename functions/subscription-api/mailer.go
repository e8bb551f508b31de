package main

import (
	"context"
	"fmt"
	"net/mail"

	"github.com/gazette-news/gazette/internal/digest"
	"github.com/gazette-news/gazette/internal/sesmail"
)

// sender is the part of sesmail.Client the mailer uses.
type sender interface {
	Send(ctx context.Context, m sesmail.Message) (string, error)
}

// mailer is the subscription core's Mailer: it renders the confirmation
// mail with the digest's hermes theme and sends it through SES.
type mailer struct {
	ses              sender
	from             string // "Publisher <sender@…>", RFC 2047-encoded
	brand            digest.Brand
	configurationSet string
}

func newMailer(ses sender, senderAddress string, brand digest.Brand, configurationSet string) *mailer {
	from := (&mail.Address{Name: brand.Name, Address: senderAddress}).String()
	return &mailer{ses: ses, from: from, brand: brand, configurationSet: configurationSet}
}

// SendConfirmation implements subscription.Mailer.
func (m *mailer) SendConfirmation(ctx context.Context, to, name, confirmURL string) error {
	e, err := digest.RenderConfirmation(m.brand, name, confirmURL)
	if err != nil {
		return fmt.Errorf("render confirmation mail: %w", err)
	}
	_, err = m.ses.Send(ctx, sesmail.Message{
		From: m.from, To: to,
		Subject: e.Subject, HTML: e.HTML, Text: e.Text,
		ConfigurationSet: m.configurationSet,
		Tags:             map[string]string{"kind": "confirmation"},
	})
	return err
}
