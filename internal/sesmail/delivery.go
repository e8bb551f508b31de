package sesmail

import (
	"context"
	"slices"
	"strings"

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

// SendBulk implements delivery.Sender. Headers every message carries with
// the same value (List-Unsubscribe-Post) are sent once, as the template's
// default headers, instead of once per entry: SES adds them to each mail,
// and the call is smaller.
func (s BulkSender) SendBulk(ctx context.Context, template string, tags map[string]string, msgs []delivery.Message) ([]delivery.Outcome, error) {
	shared := sharedHeaders(msgs)
	b := Bulk{From: s.From, Template: template, ConfigurationSet: s.ConfigurationSet, Tags: tags,
		Entries: make([]BulkEntry, len(msgs))}
	for _, h := range shared {
		b.DefaultHeaders = append(b.DefaultHeaders, Header(h))
	}
	for i, m := range msgs {
		e := BulkEntry{To: m.To, Data: m.Data}
		for _, h := range m.Headers {
			if !slices.Contains(shared, h) {
				e.Headers = append(e.Headers, Header{Name: h.Name, Value: h.Value})
			}
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

// sharedHeaders are the headers every message has, with the same value,
// and under a name no message uses with another value (so that no entry
// needs to replace them).
func sharedHeaders(msgs []delivery.Message) []delivery.Header {
	if len(msgs) < 2 {
		return nil
	}
	var shared []delivery.Header
	for _, h := range msgs[0].Headers {
		everywhere := true
		for _, m := range msgs[1:] {
			if !slices.Contains(m.Headers, h) || slices.ContainsFunc(m.Headers, func(o delivery.Header) bool {
				return strings.EqualFold(o.Name, h.Name) && o != h
			}) {
				everywhere = false
				break
			}
		}
		if everywhere {
			shared = append(shared, h)
		}
	}
	return shared
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
