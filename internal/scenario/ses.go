package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Mail is one message in the SES emulator's store (aws-ses-v2-local's
// GET /store).
type Mail struct {
	MessageID   string `json:"messageId"`
	From        string `json:"from"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		HTML string `json:"html"`
		Text string `json:"text"`
	} `json:"body"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	At int64 `json:"at"`
}

// Header returns the value of the named header, or "".
func (m Mail) Header(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// To reports whether addr is among the recipients.
func (m Mail) To(addr string) bool {
	for _, t := range m.Destination.To {
		if strings.EqualFold(t, addr) {
			return true
		}
	}
	return false
}

// Mailbox reads the SES emulator's store.
type Mailbox struct {
	URL    string // e.g. http://127.0.0.1:8005
	Client *http.Client
}

// All returns every mail the emulator has accepted, oldest first.
func (m Mailbox) All(ctx context.Context) ([]Mail, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(m.URL, "/")+"/store", nil)
	if err != nil {
		return nil, err
	}
	c := m.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read SES store: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read SES store: %s", resp.Status)
	}
	var store struct {
		Emails []Mail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		return nil, fmt.Errorf("decode SES store: %w", err)
	}
	return store.Emails, nil
}
