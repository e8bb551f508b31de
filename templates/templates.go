// Package templates holds Gazette's mail and web templates. They are
// embedded in the binary, so that every binary carries exactly the copy it
// was built with.
//
// Theme is a hermes theme derived from hermes' default one. It fixes what the
// default lacks for a newsletter: a hidden preheader, a <title>, lang and dir
// on <html>, color-scheme metadata with dark-mode colours, WCAG AA contrast
// (body and footer text at least 4.5:1), a single "button not working" line
// instead of one per action, compact article markup (so that long issues fit
// under Gmail's clipping limit), and a footer with the postal address, why the
// reader gets the mail, and real unsubscribe, preferences and view-in-browser
// links (hermes' Copyright is escaped text and cannot carry links).
//
// hermes only hands a theme its own Body fields, so the theme reads two
// conventions on top of them:
//
//   - Body.Dictionary entries whose key is one of the Key… constants are
//     page metadata (preheader, language, footer links …) and are not listed;
//     other entries are shown as a definition list, as hermes does.
//   - Body.Table.Data rows are articles: build them with Article.Entries.
//
// Archive returns the html/template set used for the public web archive.
package templates

import (
	"embed"
	"html/template"
	"sync"

	"github.com/matcornic/hermes"
)

//go:embed theme.html.tmpl theme.txt.tmpl archive/*.tmpl
var files embed.FS

var (
	htmlTheme = mustRead("theme.html.tmpl")
	textTheme = mustRead("theme.txt.tmpl")
)

func mustRead(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		// Only a broken build (a renamed file) gets here; tests catch it.
		panic(err)
	}
	return string(b)
}

// Theme is Gazette's hermes theme. The zero value is ready to use:
//
//	h := hermes.Hermes{Theme: templates.Theme{}, Product: …}
type Theme struct{}

// Compile-time proof that Theme satisfies hermes.Theme.
var _ hermes.Theme = Theme{}

// Name returns the theme's name, "gazette".
func (Theme) Name() string { return "gazette" }

// HTMLTemplate returns the html/template source hermes renders the HTML part
// with (hermes then inlines its CSS).
func (Theme) HTMLTemplate() string { return htmlTheme }

// PlainTextTemplate returns the template hermes renders and then converts
// to plain text with html2text; it only uses markup that html2text turns
// into readable text (headings, paragraphs, line breaks), never tables.
func (Theme) PlainTextTemplate() string { return textTheme }

// Metadata keys read from hermes.Body.Dictionary. They carry what hermes has
// no field for; the theme does not list them.
const (
	// KeyLang is the BCP 47 language of the mail, for <html lang>.
	KeyLang = "gazette:lang"
	// KeyPreheader is the hidden preview text shown next to the subject.
	KeyPreheader = "gazette:preheader"
	// KeySubject is the <title> of the HTML part.
	KeySubject = "gazette:subject"
	// KeyDate is the human-readable issue date shown under the title.
	KeyDate = "gazette:date"
	// KeyViewURL is the view-in-browser link.
	KeyViewURL = "gazette:view-url"
	// KeyUnsubscribeURL is the footer's unsubscribe link.
	KeyUnsubscribeURL = "gazette:unsubscribe-url"
	// KeyPreferencesURL is the footer's manage-preferences link.
	KeyPreferencesURL = "gazette:preferences-url"
	// KeyPostalAddress is the publisher's postal address (CAN-SPAM asks for it).
	KeyPostalAddress = "gazette:postal-address"
	// KeyWhy says why the reader gets this mail.
	KeyWhy = "gazette:why"
	// KeyMoreText is the "and N more" line shown after the articles when an
	// issue was cut to fit the size limit.
	KeyMoreText = "gazette:more-text"
	// KeyMoreURL is where KeyMoreText links to (the archive page).
	KeyMoreURL = "gazette:more-url"
	// KeyButtonHelp replaces the single line shown under action buttons
	// for readers whose client does not show them.
	KeyButtonHelp = "gazette:button-help"
)

// Article is one article as the theme shows it, encoded into a
// hermes.Body.Table.Data row by Entries.
type Article struct {
	// Heading, when set, starts a new topic group before this article.
	Heading string
	Title   string
	// Meta is the byline, e.g. "Reuters · 3 min read".
	Meta    string
	Summary string
	// Link is the "Read more" target; LinkText its label.
	Link     string
	LinkText string
	// Lang and Dir are set when the article's language differs from the
	// mail's, so that a Hebrew article in an English issue reads right to left.
	Lang string
	Dir  string
}

// Entries encodes a as a table row for hermes.Body.Table.Data.
func (a Article) Entries() []hermes.Entry {
	return []hermes.Entry{
		{Key: "heading", Value: a.Heading},
		{Key: "title", Value: a.Title},
		{Key: "meta", Value: a.Meta},
		{Key: "summary", Value: a.Summary},
		{Key: "link", Value: a.Link},
		{Key: "linktext", Value: a.LinkText},
		{Key: "lang", Value: a.Lang},
		{Key: "dir", Value: a.Dir},
	}
}

var (
	archiveOnce sync.Once
	archiveTmpl *template.Template
	archiveErr  error
)

// Archive returns the parsed templates of the web archive: "issue.html.tmpl",
// "index.html.tmpl" and "article.html.tmpl", sharing "layout". The set is
// parsed once and safe for concurrent use; do not modify it.
func Archive() (*template.Template, error) {
	archiveOnce.Do(func() {
		archiveTmpl, archiveErr = template.New("archive").ParseFS(files, "archive/*.tmpl")
	})
	return archiveTmpl, archiveErr
}
