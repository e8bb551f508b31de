// Package mergetag is the contract between a mail rendered once and the
// data of each recipient: the keys of the per-recipient template data (SES's
// ReplacementTemplateData), the {{key}} placeholders a rendered Email holds,
// and Personalize, which fills them as SES does. It is apart from digest,
// which renders with hermes, so that the functions that only send or only
// store (send-batch, ses-feedback, ingest-article) do not link hermes and
// its dependencies: smaller binaries and shorter cold starts
// (`gazette bench coldstart`).
package mergetag

import (
	"html"
	"strings"
)

// Keys of the per-recipient template data, as SES receives them in
// ReplacementTemplateData.
const (
	KeyName           = "name"
	KeyUnsubscribeURL = "unsubscribeUrl"
	KeyPreferencesURL = "preferencesUrl"
)

// Placeholders as they appear in a rendered Email.
const (
	PlaceholderName           = "{{" + KeyName + "}}"
	PlaceholderUnsubscribeURL = "{{" + KeyUnsubscribeURL + "}}"
	PlaceholderPreferencesURL = "{{" + KeyPreferencesURL + "}}"
)

// DefaultName greets a recipient whose name we do not know ("Hi there,").
const DefaultName = "there"

// Email is a rendered mail. After digest.Render it holds placeholders;
// after Personalize or digest.RenderConfirmation it is ready to send.
type Email struct {
	Subject string
	HTML    string
	Text    string
}

// Personalize fills the placeholders for one recipient, as SES does with
// template data: every {{key}} is replaced by data[key], HTML-escaped in the
// HTML part, and by "" when data has no such key (SES would refuse to render;
// see RecipientData for a map that always has every key).
func Personalize(e Email, data map[string]string) Email {
	return Email{
		Subject: fill(e.Subject, data, false),
		HTML:    fill(e.HTML, data, true),
		Text:    fill(e.Text, data, false),
	}
}

// RecipientData is the template data of one recipient: every placeholder
// digest.Render uses, with DefaultName when the name is unknown.
func RecipientData(name, unsubscribeURL, preferencesURL string) map[string]string {
	if strings.TrimSpace(name) == "" {
		name = DefaultName
	}
	return map[string]string{KeyName: name, KeyUnsubscribeURL: unsubscribeURL, KeyPreferencesURL: preferencesURL}
}

// fill replaces {{key}} placeholders in one pass.
func fill(s string, data map[string]string, escape bool) string {
	var b strings.Builder
	b.Grow(len(s) + 256)
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			break
		}
		key := s[i+2 : i+2+j]
		if !isKey(key) {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		v := data[key]
		if escape {
			v = html.EscapeString(v)
		}
		b.WriteString(v)
		s = s[i+2+j+2:]
	}
	b.WriteString(s)
	return b.String()
}

func isKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
