package subscription

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/gazette-news/gazette/internal/gazette"
)

// Limits on what a sign-up may carry.
const (
	// MaxEmailLen is RFC 5321's limit on a forward path (256) less the angle brackets.
	MaxEmailLen = 254
	// MaxLocalLen is RFC 5321's limit on a local part.
	MaxLocalLen = 64
	// MaxNameLen is the longest name, in characters, we keep.
	MaxNameLen = 100
)

// Validation errors. Their messages are shown to the person who filled in
// the form, so they name the field and never echo its value (which would
// put addresses into logs).
var (
	ErrEmailMissing = gazette.Errorf(gazette.KindInvalid, "email_missing", "please enter your e-mail address")
	ErrEmailInvalid = gazette.Errorf(gazette.KindInvalid, "email_invalid", "this does not look like an e-mail address")
	ErrEmailTooLong = gazette.Errorf(gazette.KindInvalid, "email_too_long", "the e-mail address is too long")
	ErrNameInvalid  = gazette.Errorf(gazette.KindInvalid, "name_invalid", "the name may not contain line breaks or control characters")
	ErrNameTooLong  = gazette.Errorf(gazette.KindInvalid, "name_too_long", "the name is too long (at most 100 characters)")
	ErrTopicUnknown = gazette.Errorf(gazette.KindInvalid, "topic_unknown", "unknown topic")
)

// domainProfile is IDNA's lookup profile plus DNS length checks and the
// hostname (STD3) rules, so that "[1.2.3.4]", "-a.example" or a 64-letter
// label are refused here rather than bounced by SES.
var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.VerifyDNSLength(true),
	idna.StrictDomainName(true),
)

// NormalizeAddress checks an address by RFC 5322 and by the rules mail
// actually lives by, and returns the form Gazette keys on: local part
// lower-cased, domain lower-cased in its ASCII (Punycode) form, so that
// "Ann@Bücher.example" and "ann@xn--bcher-kva.example" are one subscriber.
//
// Beyond net/mail it refuses display names and comments ("Ann <a@b.c>"),
// quoted or non-ASCII local parts (SES cannot send to them), domains
// without a dot (no public mailbox lives on a TLD or "localhost"), and
// anything longer than RFC 5321 allows.
func NormalizeAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ErrEmailMissing
	}
	if len(s) > 4*MaxEmailLen {
		// Do not spend IDNA mapping on a megabyte of junk.
		return "", ErrEmailTooLong
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || unicode.IsSpace(r) {
			return "", ErrEmailInvalid
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		// a.Address != s catches "<a@b.c>", comments and quoted local
		// parts, which ParseAddress accepts and rewrites.
		return "", ErrEmailInvalid
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > MaxLocalLen {
		return "", ErrEmailTooLong
	}
	if !dotAtom(local) {
		return "", ErrEmailInvalid
	}
	ascii, err := domainProfile.ToASCII(domain)
	if err != nil || !strings.Contains(ascii, ".") || strings.HasSuffix(ascii, ".") {
		return "", ErrEmailInvalid
	}
	addr := strings.ToLower(local) + "@" + strings.ToLower(ascii)
	if len(addr) > MaxEmailLen {
		return "", ErrEmailTooLong
	}
	return addr, nil
}

// dotAtom reports whether s is an RFC 5322 dot-atom of ASCII atext.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// CleanName trims a display name and refuses what could break out of a
// mail header or a page: CR, LF and every other control or format
// character (including U+2028/2029 line separators and bidi overrides).
// An empty name is fine.
func CleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", ErrNameInvalid
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return "", ErrNameInvalid
		}
	}
	if utf8.RuneCountInString(s) > MaxNameLen {
		return "", ErrNameTooLong
	}
	return s, nil
}

// DefaultTopics is the comma-separated topic list offered when none is
// configured (TOPICS unset).
const DefaultTopics = "news,world,politics,business,technology,science,culture,sport"

// ParseTopics splits a comma-separated topic list, lower-cased and trimmed,
// dropping empty entries. It returns nil when no topic is left.
func ParseTopics(list string) []string {
	var out []string
	for _, t := range strings.Split(list, ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// cleanTopics checks topics against the allowed set, ignoring case and
// duplicates, and returns them in the allowed set's order. No topics means
// every topic.
func cleanTopics(allowed, topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	want := make(map[string]bool, len(topics))
	for _, t := range topics {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		known := false
		for _, a := range allowed {
			if a == t {
				known = true
				break
			}
		}
		if !known {
			return nil, ErrTopicUnknown
		}
		want[t] = true
	}
	var out []string
	for _, a := range allowed {
		if want[a] {
			out = append(out, a)
		}
	}
	return out, nil
}
