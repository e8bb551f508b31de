package sesmail

import (
	"context"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/digest"
)

// BulkSender adapts Client to delivery.Sender: one stored template sent to
// a chunk of recipients with SendBulkEmail.
type BulkSender struct {
	Client           *Client
	From             string
	ConfigurationSet string
}

// SendBulk implements delivery.Sender.
func (s BulkSender) SendBulk(ctx context.Context, template string, tags map[string]string, msgs []delivery.Message) ([]delivery.Outcome, error) {
	b := Bulk{From: s.From, Template: template, ConfigurationSet: s.ConfigurationSet, Tags: tags,
		Entries: make([]BulkEntry, len(msgs))}
	for i, m := range msgs {
		e := BulkEntry{To: m.To, Data: m.Data}
		for _, h := range m.Headers {
			e.Headers = append(e.Headers, Header{Name: h.Name, Value: h.Value})
		}
		b.Entries[i] = e
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

// Templates adapts Client to publish.Templates.
type Templates struct{ Client *Client }

// PutTemplate implements publish.Templates.
func (t Templates) PutTemplate(ctx context.Context, name string, e digest.Email) error {
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
