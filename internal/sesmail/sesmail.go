// Package sesmail sends mail through Amazon SES v2: single messages, stored
// templates and SendBulkEmail. It maps SES's answers onto gazette error
// kinds so that callers can tell throttling (wait and retry) from a
// rejected message (do not retry) from an outage (retry later).
package sesmail

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/gazette-news/gazette/internal/gazette"
)

// API is the part of the SES v2 client this package uses.
type API interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
	SendBulkEmail(ctx context.Context, in *sesv2.SendBulkEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendBulkEmailOutput, error)
	CreateEmailTemplate(ctx context.Context, in *sesv2.CreateEmailTemplateInput, optFns ...func(*sesv2.Options)) (*sesv2.CreateEmailTemplateOutput, error)
	UpdateEmailTemplate(ctx context.Context, in *sesv2.UpdateEmailTemplateInput, optFns ...func(*sesv2.Options)) (*sesv2.UpdateEmailTemplateOutput, error)
	GetAccount(ctx context.Context, in *sesv2.GetAccountInput, optFns ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
}

// Client wraps the SES v2 API.
type Client struct {
	api API
}

// New returns a Client over api.
func New(api API) *Client { return &Client{api: api} }

// Header is one extra mail header.
type Header struct{ Name, Value string }

// Message is one fully rendered mail.
type Message struct {
	From, To         string
	Subject          string
	HTML, Text       string
	Headers          []Header
	ConfigurationSet string
	Tags             map[string]string
}

// Send sends one message and returns SES's message ID.
func (c *Client) Send(ctx context.Context, m Message) (string, error) {
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: aws.String("UTF-8")},
			Body: &types.Body{
				Html: &types.Content{Data: aws.String(m.HTML), Charset: aws.String("UTF-8")},
				Text: &types.Content{Data: aws.String(m.Text), Charset: aws.String("UTF-8")},
			},
			Headers: headers(m.Headers),
		}},
		EmailTags: tags(m.Tags),
	}
	if m.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(m.ConfigurationSet)
	}
	out, err := c.api.SendEmail(ctx, in)
	if err != nil {
		return "", classify("send email", err)
	}
	return aws.ToString(out.MessageId), nil
}

// Template is a stored SES template; {{name}}-style placeholders are filled
// per recipient from BulkEntry.Data.
type Template struct {
	Name       string
	Subject    string
	HTML, Text string
}

// PutTemplate creates the template, or updates it if it exists, so that a
// re-run publish converges on the same stored template.
func (c *Client) PutTemplate(ctx context.Context, t Template) error {
	content := &types.EmailTemplateContent{
		Subject: aws.String(t.Subject), Html: aws.String(t.HTML), Text: aws.String(t.Text),
	}
	_, err := c.api.CreateEmailTemplate(ctx, &sesv2.CreateEmailTemplateInput{
		TemplateName: aws.String(t.Name), TemplateContent: content,
	})
	var exists *types.AlreadyExistsException
	if errors.As(err, &exists) {
		_, err = c.api.UpdateEmailTemplate(ctx, &sesv2.UpdateEmailTemplateInput{
			TemplateName: aws.String(t.Name), TemplateContent: content,
		})
	}
	if err != nil {
		return classify("put template "+t.Name, err)
	}
	return nil
}

// BulkEntry is one recipient of a SendBulkEmail call.
type BulkEntry struct {
	To      string
	Data    map[string]string
	Headers []Header // ReplacementHeaders, e.g. this recipient's List-Unsubscribe
}

// Bulk is one SendBulkEmail call: at most gazette.MaxBatchRecipients entries.
type Bulk struct {
	From        string
	Template    string
	DefaultData map[string]string
	// DefaultHeaders go on every entry's mail (the template's Headers):
	// an entry's own Headers replace a default of the same name.
	DefaultHeaders   []Header
	ConfigurationSet string
	Tags             map[string]string
	Entries          []BulkEntry
}

// BulkResult is SES's answer for one entry, in the order of Bulk.Entries.
// Err is nil on success and classified otherwise.
type BulkResult struct {
	MessageID string
	Err       error
}

// SendBulk sends b. An error means the call as a whole failed (nothing was
// sent); per-entry failures are in the results.
func (c *Client) SendBulk(ctx context.Context, b Bulk) ([]BulkResult, error) {
	defaults := templateData(b.DefaultData)
	in := &sesv2.SendBulkEmailInput{
		FromEmailAddress: aws.String(b.From),
		DefaultContent: &types.BulkEmailContent{Template: &types.Template{
			TemplateName: aws.String(b.Template), TemplateData: aws.String(defaults),
			Headers: headers(b.DefaultHeaders),
		}},
		DefaultEmailTags: tags(b.Tags),
	}
	if b.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(b.ConfigurationSet)
	}
	for _, e := range b.Entries {
		data := templateData(e.Data)
		in.BulkEmailEntries = append(in.BulkEmailEntries, types.BulkEmailEntry{
			Destination: &types.Destination{ToAddresses: []string{e.To}},
			ReplacementEmailContent: &types.ReplacementEmailContent{
				ReplacementTemplate: &types.ReplacementTemplate{ReplacementTemplateData: aws.String(data)},
			},
			ReplacementHeaders: headers(e.Headers),
		})
	}
	out, err := c.api.SendBulkEmail(ctx, in)
	if err != nil {
		return nil, classify("send bulk email", err)
	}
	if len(out.BulkEmailEntryResults) != len(b.Entries) {
		// Without one result per entry we cannot tell who got the mail:
		// treat it as an outage and let the ledger sort out the retry.
		return nil, fmt.Errorf("send bulk email: %d results for %d entries", len(out.BulkEmailEntryResults), len(b.Entries))
	}
	res := make([]BulkResult, len(b.Entries))
	for i, r := range out.BulkEmailEntryResults {
		res[i].MessageID = aws.ToString(r.MessageId)
		res[i].Err = entryError(r)
	}
	return res, nil
}

// Quota is the account's sending quota.
type Quota struct {
	MaxSendRate     float64 // messages per second
	Max24HourSend   float64
	SentLast24Hours float64
}

// Quota reads the account's sending quota with GetAccount.
func (c *Client) Quota(ctx context.Context) (Quota, error) {
	out, err := c.api.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		return Quota{}, classify("get account", err)
	}
	if out.SendQuota == nil {
		return Quota{}, gazette.Errorf(gazette.KindPermanent, "no_quota", "SES account has no send quota")
	}
	return Quota{
		MaxSendRate:     out.SendQuota.MaxSendRate,
		Max24HourSend:   out.SendQuota.Max24HourSend,
		SentLast24Hours: out.SendQuota.SentLast24Hours,
	}, nil
}

func entryError(r types.BulkEmailEntryResult) error {
	switch r.Status {
	case types.BulkEmailStatusSuccess:
		return nil
	case types.BulkEmailStatusAccountThrottled, types.BulkEmailStatusAccountDailyQuotaExceeded:
		return gazette.Errorf(gazette.KindThrottled, string(r.Status), "%s", aws.ToString(r.Error))
	case types.BulkEmailStatusTransientFailure, types.BulkEmailStatusFailed:
		return gazette.Errorf(gazette.KindUnknown, string(r.Status), "%s", aws.ToString(r.Error))
	case types.BulkEmailStatusMessageRejected, types.BulkEmailStatusInvalidParameter:
		return gazette.Errorf(gazette.KindInvalid, string(r.Status), "%s", aws.ToString(r.Error))
	}
	// Account or configuration problems (unverified sender, missing template,
	// paused sending) fail every entry alike and need an operator.
	return gazette.Errorf(gazette.KindPermanent, string(r.Status), "%s", aws.ToString(r.Error))
}

// classify maps an SES API error onto a gazette error kind.
func classify(op string, err error) error {
	kind := gazette.KindUnknown
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException":
			kind = gazette.KindThrottled
		case "BadRequestException", "MessageRejected":
			kind = gazette.KindInvalid
		case "NotFoundException":
			kind = gazette.KindNotFound
		case "AccountSuspendedException", "SendingPausedException", "MailFromDomainNotVerifiedException":
			kind = gazette.KindPermanent
		}
	}
	return fmt.Errorf("%s: %w", op, gazette.Wrap(kind, "ses", err))
}

func headers(hs []Header) []types.MessageHeader {
	if len(hs) == 0 {
		return nil // no empty list on the wire
	}
	out := make([]types.MessageHeader, 0, len(hs))
	for _, h := range hs {
		out = append(out, types.MessageHeader{Name: aws.String(h.Name), Value: aws.String(h.Value)})
	}
	return out
}

func tags(m map[string]string) []types.MessageTag {
	out := make([]types.MessageTag, 0, len(m))
	for k, v := range m {
		out = append(out, types.MessageTag{Name: aws.String(k), Value: aws.String(v)})
	}
	return out
}
