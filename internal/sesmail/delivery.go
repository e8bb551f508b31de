package sesmail

import (
	"context"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/mergetag"
)

// BulkSender adapts Client to delivery.Sender: one stored template sent to
// a chunk of recipients with SendBulkEmail.
type BulkSender struct {
	Client           *Client
	From             string
	ConfigurationSet string
}

// SendBulk implements delivery.Sender. The shared headers go once, as the
// template's default headers, which SES adds to each mail: the call is
// smaller than with a copy per entry.
func (s BulkSender) SendBulk(ctx context.Context, template string, tags map[string]string, shared []delivery.Header, msgs []delivery.Message) ([]delivery.Outcome, error) {
	b := Bulk{From: s.From, Template: template, ConfigurationSet: s.ConfigurationSet, Tags: tags,
		DefaultHeaders: headersOf(shared), Entries: make([]BulkEntry, len(msgs))}
	for i, m := range msgs {
		b.Entries[i] = BulkEntry{To: m.To, Data: m.Data, Headers: headersOf(m.Headers)}
	}
	res, err := s.Client.SendBulk(ctx, b)
	if err != nil {
		return nil, err
	}
	out := make([]delivery.Outcome, len(res))
	for i, r := range res {
		out[i] = delivery.Outcome{MessageID: r.MessageID, Err: r.Err}
	}
	return out, nil
}

func headersOf(hs []delivery.Header) []Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]Header, len(hs))
	for i, h := range hs {
		out[i] = Header(h)
	}
	return out
}

// Templates adapts Client to publish.Templates.
type Templates struct{ Client *Client }

// PutTemplate implements publish.Templates.
func (t Templates) PutTemplate(ctx context.Context, name string, e mergetag.Email) error {
	return t.Client.PutTemplate(ctx, Template{Name: name, Subject: e.Subject, HTML: e.HTML, Text: e.Text})
}

// Account adapts Client to delivery.QuotaSource.
type Account struct{ Client *Client }

// SendQuota implements delivery.QuotaSource.
func (a Account) SendQuota(ctx context.Context) (delivery.SendQuota, error) {
	q, err := a.Client.Quota(ctx)
	if err != nil {
		return delivery.SendQuota{}, err
	}
	return delivery.SendQuota{Max24HourSend: q.Max24HourSend, SentLast24Hours: q.SentLast24Hours}, nil
}
