package subscription

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
)

func TestNormalizeAddress(t *testing.T) {
	tests := []struct {
		in, want, code string
	}{
		{"ann@example.com", "ann@example.com", ""},
		{"  Ann.Lee+news@Example.COM\t", "ann.lee+news@example.com", ""},
		{"o'brien@sub.example.co.uk", "o'brien@sub.example.co.uk", ""},
		{"ann@bücher.example", "ann@xn--bcher-kva.example", ""},
		{"ann@BÜCHER.example", "ann@xn--bcher-kva.example", ""},
		{"ann@xn--bcher-kva.example", "ann@xn--bcher-kva.example", ""},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com", ""},
		{"", "", "email_missing"},
		{"   ", "", "email_missing"},
		{"ann", "", "email_invalid"},
		{"ann@", "", "email_invalid"},
		{"@example.com", "", "email_invalid"},
		{"ann@localhost", "", "email_invalid"},
		{"ann@example.com.", "", "email_invalid"},
		{"ann@-example.com", "", "email_invalid"},
		{"ann@exa_mple.com", "", "email_invalid"},
		{"ann@[192.0.2.1]", "", "email_invalid"},
		{"Ann <ann@example.com>", "", "email_invalid"},
		{"<ann@example.com>", "", "email_invalid"},
		{"ann@example.com (Ann)", "", "email_invalid"},
		{`"ann lee"@example.com`, "", "email_invalid"},
		{"ann..lee@example.com", "", "email_invalid"},
		{".ann@example.com", "", "email_invalid"},
		{"jörg@example.com", "", "email_invalid"},
		{"ann@example.com\r\nBcc: x@example.com", "", "email_invalid"},
		{"ann@exa mple.com", "", "email_invalid"},
		{"a@b@example.com", "", "email_invalid"},
		{"ann@example.com,bob@example.com", "", "email_invalid"},
		{strings.Repeat("a", 65) + "@example.com", "", "email_too_long"},
		{strings.Repeat("a", 10) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 54) + ".com", "", "email_too_long"},
		{"a@" + strings.Repeat("b", 64) + ".com", "", "email_invalid"},
		{strings.Repeat("x", 5000), "", "email_too_long"},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			got, err := NormalizeAddress(tt.in)
			if code := gazette.CodeOf(err); code != tt.code {
				t.Fatalf("NormalizeAddress(%q) error = %v, want code %q", tt.in, err, tt.code)
			}
			if got != tt.want {
				t.Errorf("NormalizeAddress(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "@") {
				t.Errorf("error message echoes the input: %v", err)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want, code string
	}{
		{"", "", ""},
		{"  Ann Lee ", "Ann Lee", ""},
		{"Zoë O'Brien-Łukasz 李", "Zoë O'Brien-Łukasz 李", ""},
		{"<b>Ann</b>", "<b>Ann</b>", ""}, // escaped where shown, harmless in a header
		{"Ann\r\nBcc: x@example.com", "", "name_invalid"},
		{"Ann\nLee", "", "name_invalid"},
		{"Ann\x00", "", "name_invalid"},
		{"Ann\tLee", "", "name_invalid"},
		{"Ann\u2028Lee", "", "name_invalid"},
		{"Ann\u202eeeL", "", "name_invalid"},
		{"\xff\xfe", "", "name_invalid"},
		{strings.Repeat("é", 100), strings.Repeat("é", 100), ""},
		{strings.Repeat("é", 101), "", "name_too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanName(tt.in)
			if code := gazette.CodeOf(err); code != tt.code || got != tt.want {
				t.Errorf("CleanName(%q) = %q, %v; want %q, code %q", tt.in, got, err, tt.want, tt.code)
			}
		})
	}
}

func TestCleanTopics(t *testing.T) {
	allowed := []string{"science", "culture", "sport"}
	got, err := cleanTopics(allowed, []string{" Sport", "science", "sport", ""})
	if err != nil || !cmp.Equal(got, []string{"science", "sport"}) {
		t.Errorf("cleanTopics() = %v, %v", got, err)
	}
	if got, err := cleanTopics(allowed, nil); err != nil || got != nil {
		t.Errorf("cleanTopics(nil) = %v, %v", got, err)
	}
	if _, err := cleanTopics(allowed, []string{"gossip"}); err != ErrTopicUnknown {
		t.Errorf("cleanTopics(unknown) = %v", err)
	}
}

func TestParseTopics(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" , ,", nil},
		{"news", []string{"news"}},
		{" Science, culture ,,", []string{"science", "culture"}},
		{"NEWS,news", []string{"news", "news"}},
		{DefaultTopics, []string{"news", "world", "politics", "business", "technology", "science", "culture", "sport"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ParseTopics(tt.in)); diff != "" {
			t.Errorf("ParseTopics(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
