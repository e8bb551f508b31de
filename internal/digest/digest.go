// Package digest renders a Gazette issue into mail, once per issue, in a form
// SES can store as a template: the per-recipient parts are SES (Handlebars)
// placeholders ({{name}}, {{unsubscribeUrl}}, {{preferencesUrl}}) that
// survive hermes' CSS inlining and HTML-to-text conversion. Rendering costs
// milliseconds (CSS inlining); substituting placeholders costs microseconds,
// which is why recipients are never rendered one by one.
//
// It also renders the double opt-in mail and the public web archive (issue
// pages, index, Atom feed and one page per article). It imports nothing from
// AWS.
package digest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/matcornic/hermes"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/mergetag"
	"github.com/gazette-news/gazette/templates"
)

// DefaultMaxHTMLBytes is the default size budget of the HTML part. Gmail
// clips messages whose HTML exceeds 102 KB; we stay well below it because
// placeholders grow when filled (unsubscribe and preferences URLs) and some
// clients count the decoded body with its line breaks.
const DefaultMaxHTMLBytes = 95_000

// Brand is the publisher as readers see it in the header and footer.
type Brand struct {
	Name          string
	Link          string // the publisher's home page
	Logo          string // absolute URL of a logo image; the name is shown without one
	PostalAddress string // shown in the footer (CAN-SPAM, GDPR imprint)
	Why           string // why-you-get-this line, e.g. "You subscribed at gazette.example."
}

// Links are the public URLs rendering needs.
type Links struct {
	// ArchiveBase is the base URL of the archive pages, e.g.
	// "https://news.example/archive" (no trailing slash needed).
	ArchiveBase string
	// Subscribe is a generic subscribe/manage page linked from archive pages
	// instead of per-recipient links. Optional.
	Subscribe string
}

// IssueURL is the public URL of issue n's archive page.
func (l Links) IssueURL(n int) string { return l.url(IssueKey(n)) }

// ArticleURL is the public URL of an article's archive page.
func (l Links) ArticleURL(slug string) string { return l.url(ArticleKey(slug)) }

// IndexURL is the public URL of the archive's index page.
func (l Links) IndexURL() string { return l.url(IndexKey) }

// FeedURL is the public URL of the archive's Atom feed.
func (l Links) FeedURL() string { return l.url(FeedKey) }

func (l Links) url(key string) string {
	if l.ArchiveBase == "" {
		return ""
	}
	return strings.TrimRight(l.ArchiveBase, "/") + strings.TrimPrefix(key, ArchivePrefix)
}

// Options tune Render. The zero value gives the defaults.
type Options struct {
	// SubjectPattern builds the subject; see DefaultSubjectPattern for the syntax.
	SubjectPattern string
	// MaxHTMLBytes is the HTML size budget (default DefaultMaxHTMLBytes).
	// Over it, summaries get shorter, then the issue is cut and ends with
	// "and N more" linking to the archive.
	MaxHTMLBytes int
	// Lang is the issue's language when no article declares one (default "en").
	Lang string
}

// summaryLimits are the degradation steps of the size guard: full
// summaries, then summaries cut to these many characters.
var summaryLimits = []int{0, 280, 140}

// Render renders issue once. Per-recipient parts are mergetag's
// placeholders (name, unsubscribe URL, preferences URL); fill them with
// mergetag.Personalize or SES template data. The view-in-browser link
// points at the issue's archive page.
func Render(issue gazette.Issue, brand Brand, links Links, opts Options) (mergetag.Email, error) {
	if len(issue.Articles) == 0 {
		return mergetag.Email{}, gazette.Errorf(gazette.KindInvalid, "empty_issue", "issue %d has no articles", issue.Number)
	}
	pattern := opts.SubjectPattern
	if pattern == "" {
		pattern = DefaultSubjectPattern
	}
	subject, err := compileSubject(pattern)
	if err != nil {
		return mergetag.Email{}, gazette.Wrap(gazette.KindInvalid, "bad_subject_pattern", err)
	}
	budget := opts.MaxHTMLBytes
	if budget <= 0 {
		budget = DefaultMaxHTMLBytes
	}
	brand = cleanBrand(brand)
	r := renderer{issue: issue, brand: brand, links: links}
	r.lang, r.dir = issueLanguage(issue.Articles, opts.Lang)
	r.subject, _ = expandSubject(subject, map[string]string{
		"brand":  brand.Name,
		"number": strconv.Itoa(issue.Number),
		"title":  clean(issue.Articles[0].Title),
		"more":   strconv.Itoa(len(issue.Articles) - 1),
		"count":  strconv.Itoa(len(issue.Articles)),
		"date":   formatDate(issue.Date),
	})
	r.subject = strings.Join(strings.Fields(r.subject), " ")

	// The size guard: try the whole issue with ever shorter summaries…
	n := len(issue.Articles)
	var h string
	for _, limit := range summaryLimits {
		r.summaryLimit = limit
		if h, err = r.html(n); err != nil {
			return mergetag.Email{}, err
		}
		if len(h) <= budget {
			return r.finish(h, n)
		}
	}
	// …then cut the issue. Sizes grow linearly with the number of articles
	// plus a fixed frame, so scaling k by budget/size undershoots a little
	// and usually fits at the first try.
	k := n
	for len(h) > budget && k > 1 {
		next := int(float64(k) * float64(budget) / float64(len(h)) * 0.97)
		k = max(1, min(next, k-1))
		if h, err = r.html(k); err != nil {
			return mergetag.Email{}, err
		}
	}
	return r.finish(h, k)
}

// renderer holds what every attempt of the size guard shares.
type renderer struct {
	issue        gazette.Issue
	brand        Brand
	links        Links
	lang, dir    string
	subject      string
	summaryLimit int
}

// Sentinels stand for the placeholders while hermes works: they are plain
// letters, so html/template leaves them alone in URLs (it would
// percent-encode braces), premailer and html2text copy them verbatim, and
// they are swapped for the real placeholders at the end.
func sentinel(key string) string { return "GZPH" + key + "HPZG" }

var unsentinel = strings.NewReplacer(
	sentinel(mergetag.KeyName), mergetag.PlaceholderName,
	sentinel(mergetag.KeyUnsubscribeURL), mergetag.PlaceholderUnsubscribeURL,
	sentinel(mergetag.KeyPreferencesURL), mergetag.PlaceholderPreferencesURL,
)

func (r *renderer) hermes() *hermes.Hermes {
	return &hermes.Hermes{
		Theme:         templates.Theme{},
		TextDirection: hermes.TextDirection(r.dir),
		Product: hermes.Product{
			Name:      r.brand.Name,
			Link:      r.brand.Link,
			Logo:      r.brand.Logo,
			Copyright: copyright(r.brand.Name, r.issue.Date),
		},
	}
}

// email builds the hermes body of the first k articles.
func (r *renderer) email(k int) hermes.Email {
	more := len(r.issue.Articles) - k
	view := r.viewURL()
	meta := []hermes.Entry{
		{Key: templates.KeyLang, Value: r.lang},
		{Key: templates.KeySubject, Value: r.subject},
		{Key: templates.KeyPreheader, Value: preheader(r.issue.Articles)},
		{Key: templates.KeyDate, Value: formatDate(r.issue.Date)},
		{Key: templates.KeyViewURL, Value: view},
		{Key: templates.KeyUnsubscribeURL, Value: sentinel(mergetag.KeyUnsubscribeURL)},
		{Key: templates.KeyPreferencesURL, Value: sentinel(mergetag.KeyPreferencesURL)},
		{Key: templates.KeyPostalAddress, Value: r.brand.PostalAddress},
		{Key: templates.KeyWhy, Value: r.brand.Why},
	}
	if more > 0 {
		meta = append(meta,
			hermes.Entry{Key: templates.KeyMoreText, Value: fmt.Sprintf("…and %d more %s in this issue's web edition", more, plural(more, "story", "stories"))},
			hermes.Entry{Key: templates.KeyMoreURL, Value: view},
		)
	}
	count := fmt.Sprintf("%d %s", len(r.issue.Articles), plural(len(r.issue.Articles), "story", "stories"))
	return hermes.Email{Body: hermes.Body{
		Title:      fmt.Sprintf("Issue #%d", r.issue.Number),
		Intros:     []string{fmt.Sprintf("Hi %s, here are the %s of this issue.", sentinel(mergetag.KeyName), count)},
		Dictionary: meta,
		Table:      hermes.Table{Data: r.rows(k)},
	}}
}

func (r *renderer) viewURL() string {
	if u := r.links.IssueURL(r.issue.Number); u != "" {
		return u
	}
	return safeURL(r.issue.ArchiveURL)
}

// rows groups the first k articles by topic, groups in order of first
// appearance, articles in issue order within a group.
func (r *renderer) rows(k int) [][]hermes.Entry {
	rows := make([][]hermes.Entry, 0, k)
	for _, g := range groupByTopic(r.issue.Articles[:k]) {
		for i, a := range g.articles {
			ta := templates.Article{
				Title:    clean(a.Title),
				Meta:     byline(a),
				Summary:  shorten(clean(a.Summary), r.summaryLimit),
				Link:     readMoreURL(a, r.links),
				LinkText: "Read more",
			}
			if i == 0 {
				ta.Heading = g.topic
			}
			if lang := baseLang(a.Language); lang != "" && lang != r.lang {
				ta.Lang, ta.Dir = lang, direction(lang)
			}
			rows = append(rows, ta.Entries())
		}
	}
	return rows
}

func (r *renderer) html(k int) (string, error) {
	s, err := r.hermes().GenerateHTML(r.email(k))
	if err != nil {
		return "", fmt.Errorf("render issue %d: html: %w", r.issue.Number, err)
	}
	return unsentinel.Replace(s), nil
}

func (r *renderer) finish(h string, k int) (mergetag.Email, error) {
	t, err := r.hermes().GeneratePlainText(r.email(k))
	if err != nil {
		return mergetag.Email{}, fmt.Errorf("render issue %d: text: %w", r.issue.Number, err)
	}
	return mergetag.Email{Subject: r.subject, HTML: h, Text: unsentinel.Replace(t) + "\n"}, nil
}

// RenderConfirmation renders the double opt-in mail: a greeting, a confirm
// button, and a footer that says why this one mail came. It is fully
// personalised (no placeholders).
func RenderConfirmation(brand Brand, name, confirmURL string) (mergetag.Email, error) {
	brand = cleanBrand(brand)
	u, err := url.Parse(confirmURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return mergetag.Email{}, gazette.Errorf(gazette.KindInvalid, "bad_confirm_url", "confirmation link %q is not an absolute http(s) URL", confirmURL)
	}
	name = clean(strings.TrimSpace(name))
	greeting := "Hi,"
	if name != "" {
		greeting = "Hi " + name + ","
	}
	why := fmt.Sprintf("You received this one mail because this address was entered on the %s subscription form. If that was not you, ignore it: without confirmation you will get nothing more.", brand.Name)
	h := &hermes.Hermes{
		Theme: templates.Theme{},
		Product: hermes.Product{
			Name: brand.Name, Link: brand.Link, Logo: brand.Logo,
			Copyright: copyright(brand.Name, time.Now()),
		},
	}
	subject := "Confirm your subscription to " + brand.Name
	e := hermes.Email{Body: hermes.Body{
		Title: "Confirm your subscription",
		Intros: []string{
			greeting,
			fmt.Sprintf("Please confirm that you want to receive %s at this address.", brand.Name),
		},
		Dictionary: []hermes.Entry{
			{Key: templates.KeySubject, Value: subject},
			{Key: templates.KeyPreheader, Value: "One click and you are in. Ignore this mail if you did not subscribe."},
			{Key: templates.KeyWhy, Value: why},
			{Key: templates.KeyPostalAddress, Value: brand.PostalAddress},
		},
		Actions: []hermes.Action{{
			Button: hermes.Button{Text: "Confirm subscription", Link: confirmURL},
		}},
		Outros: []string{"The link works for a limited time. If it has expired, simply subscribe again."},
	}}
	htmlPart, err := h.GenerateHTML(e)
	if err != nil {
		return mergetag.Email{}, fmt.Errorf("render confirmation: html: %w", err)
	}
	text, err := h.GeneratePlainText(e)
	if err != nil {
		return mergetag.Email{}, fmt.Errorf("render confirmation: text: %w", err)
	}
	return mergetag.Email{Subject: subject, HTML: htmlPart, Text: text + "\n"}, nil
}

// topicGroup is the articles of one topic.
type topicGroup struct {
	topic    string
	articles []gazette.Article
}

// OtherTopic heads articles that have no topic.
const OtherTopic = "More news"

func topicOf(a gazette.Article) string {
	for _, t := range a.Topics {
		if t = clean(strings.TrimSpace(t)); t != "" {
			return t
		}
	}
	return OtherTopic
}

func groupByTopic(articles []gazette.Article) []topicGroup {
	var groups []topicGroup
	index := map[string]int{}
	for _, a := range articles {
		t := topicOf(a)
		key := strings.ToLower(t)
		i, ok := index[key]
		if !ok {
			i = len(groups)
			index[key] = i
			groups = append(groups, topicGroup{topic: t})
		}
		groups[i].articles = append(groups[i].articles, a)
	}
	return groups
}

// rtlLangs are the languages written right to left that we expect to see.
var rtlLangs = map[string]bool{"ar": true, "he": true, "fa": true, "ur": true, "yi": true, "ps": true, "dv": true, "ckb": true}

// baseLang is the primary subtag of a language tag, lower-cased ("he-IL" → "he").
func baseLang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	if !isPrimarySubtag(tag) {
		return ""
	}
	return tag
}

// isPrimarySubtag reports whether s can be a BCP 47 primary language
// subtag: two to eight ASCII letters.
func isPrimarySubtag(s string) bool {
	if len(s) < 2 || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func direction(lang string) string {
	if rtlLangs[lang] {
		return string(hermes.TDRightToLeft)
	}
	return string(hermes.TDLeftToRight)
}

// issueLanguage picks the language most articles are in (the first seen on
// a tie), else fallback, else English, and its text direction.
func issueLanguage(articles []gazette.Article, fallback string) (lang, dir string) {
	counts := map[string]int{}
	best := 0
	for _, a := range articles {
		l := baseLang(a.Language)
		if l == "" {
			continue
		}
		counts[l]++
		if counts[l] > best {
			best, lang = counts[l], l
		}
	}
	if lang == "" {
		lang = baseLang(fallback)
	}
	if lang == "" {
		lang = "en"
	}
	return lang, direction(lang)
}

// readMoreURL is the article's own URL when it is a web link, else its
// archive page, else nothing.
func readMoreURL(a gazette.Article, links Links) string {
	if u := safeURL(a.URL); u != "" {
		return u
	}
	if slug := slugOf(a); slug != "" {
		return links.ArticleURL(slug)
	}
	return ""
}

// safeURL keeps absolute http(s) URLs only, with braces escaped so that SES
// cannot mistake them for placeholders (the text part prints URLs raw).
func safeURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return strings.NewReplacer("{", "%7B", "}", "%7D").Replace(u.String())
}

// byline is "Source · By Author · 3 min read", from what the article has.
func byline(a gazette.Article) string {
	var parts []string
	src := clean(strings.TrimSpace(a.Source))
	if src == "" {
		if u, err := url.Parse(a.URL); err == nil && u.Host != "" {
			src = strings.TrimPrefix(u.Hostname(), "www.")
		}
	}
	if src != "" {
		parts = append(parts, src)
	}
	if au := clean(strings.TrimSpace(a.Author)); au != "" && au != src {
		parts = append(parts, "By "+au)
	}
	if a.Words > 0 {
		parts = append(parts, fmt.Sprintf("%d min read", a.ReadingMinutes()))
	}
	return strings.Join(parts, " · ")
}

// preheaderRunes is about what mail clients show next to the subject.
const preheaderRunes = 140

// preheader lists the first article titles, as many as fit.
func preheader(articles []gazette.Article) string {
	var b strings.Builder
	for i, a := range articles {
		t := clean(a.Title)
		if i > 0 {
			if utf8.RuneCountInString(b.String())+3+utf8.RuneCountInString(t) > preheaderRunes {
				break
			}
			b.WriteString(" · ")
		}
		b.WriteString(t)
	}
	return shorten(b.String(), preheaderRunes)
}

// shorten cuts s to at most limit runes at a word boundary, with an
// ellipsis; limit 0 means no limit.
func shorten(s string, limit int) string {
	if limit <= 0 || utf8.RuneCountInString(s) <= limit {
		return s
	}
	rs := []rune(s)[:limit-1]
	cut := string(rs)
	if i := strings.LastIndexAny(cut, " \t\n"); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:-–—") + "…"
}

// clean makes content safe to put into an SES template: SES reads every
// {{…}} as a placeholder, so braces pairs in articles are broken up. It also
// collapses whitespace, which mail layouts ignore anyway.
func clean(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.Contains(s, "{{") || strings.Contains(s, "}}") {
		s = strings.NewReplacer("{{", "{ {", "}}", "} }").Replace(s)
	}
	return s
}

func cleanBrand(b Brand) Brand {
	if b.Name = clean(b.Name); b.Name == "" {
		b.Name = "Gazette"
	}
	b.Link = safeURL(b.Link)
	b.Logo = safeURL(b.Logo)
	b.PostalAddress = clean(b.PostalAddress)
	if b.Why = clean(b.Why); b.Why == "" {
		b.Why = fmt.Sprintf("You receive this because you subscribed to %s.", b.Name)
	}
	return b
}

func copyright(name string, t time.Time) string {
	if t.IsZero() {
		return "© " + name
	}
	return fmt.Sprintf("© %d %s", t.Year(), name)
}

// formatDate is the issue date as readers see it, e.g. "5 March 2026".
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("2 January 2006")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
