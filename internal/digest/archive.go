package digest

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/templates"
)

// Archive object keys. Everything public lives under ArchivePrefix, and a
// key maps to a URL by swapping the prefix for Links.ArchiveBase.
const (
	ArchivePrefix = "archive"
	IndexKey      = ArchivePrefix + "/index.html"
	FeedKey       = ArchivePrefix + "/feed.xml"
)

// IssueKey is the object key of issue n's web edition.
func IssueKey(n int) string { return ArchivePrefix + "/issues/" + strconv.Itoa(n) + ".html" }

// ArticleKey is the object key of an article's page. Slugs should already be
// URL-safe; anything else is replaced so that key and URL always agree.
func ArticleKey(slug string) string { return ArchivePrefix + "/articles/" + safeSlug(slug) + ".html" }

// Cache lifetimes for the archive: pages of a published issue do not
// change, the index and feed change with every issue.
const (
	CacheImmutable = "public, max-age=86400"
	CacheShort     = "public, max-age=300"
)

// Page is one archive object to upload.
type Page struct {
	Key          string
	ContentType  string
	CacheControl string
	Body         []byte
}

// IssueSummary is what the index and the feed show of one issue; keep
// them from earlier issues to list every issue without reloading it.
type IssueSummary struct {
	Number  int       `json:"number"`
	Date    time.Time `json:"date"`
	Subject string    `json:"subject,omitempty"`
	Titles  []string  `json:"titles,omitempty"`
}

// Summarize returns the summary of issue for the index and feed.
func Summarize(issue gazette.Issue) IssueSummary {
	s := IssueSummary{Number: issue.Number, Date: issue.Date, Subject: strings.TrimSpace(issue.Subject)}
	for _, a := range issue.Articles {
		s.Titles = append(s.Titles, tidy(a.Title))
	}
	return s
}

// maxFeedEntries keeps the feed small; the index lists everything.
const maxFeedEntries = 50

// Pages renders the archive objects for issue: its web edition (without any
// per-recipient link), one page per article with its full text, and the
// index and Atom feed over all (issue is added to all if missing).
func Pages(issue gazette.Issue, all []IssueSummary, brand Brand, links Links) ([]Page, error) {
	if links.ArchiveBase == "" {
		return nil, gazette.Errorf(gazette.KindInvalid, "no_archive_base", "archive pages need Links.ArchiveBase for their absolute links")
	}
	if len(issue.Articles) == 0 {
		return nil, gazette.Errorf(gazette.KindInvalid, "empty_issue", "issue %d has no articles", issue.Number)
	}
	t, err := templates.Archive()
	if err != nil {
		return nil, fmt.Errorf("archive templates: %w", err)
	}
	brand = cleanBrand(brand)
	lang, dir := issueLanguage(issue.Articles, "")
	base := pageView{
		Lang: lang, Dir: dir, Brand: brand,
		IndexURL: links.IndexURL(), FeedURL: links.FeedURL(), SubscribeURL: safeURL(links.Subscribe),
	}
	issueTitle := fmt.Sprintf("%s #%d", brand.Name, issue.Number)
	var pages []Page
	render := func(name, key, cache string, v pageView) error {
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, name, v); err != nil {
			return fmt.Errorf("archive %s: %w", key, err)
		}
		pages = append(pages, Page{Key: key, ContentType: "text/html; charset=utf-8", CacheControl: cache, Body: b.Bytes()})
		return nil
	}

	// The issue's web edition.
	iv := base
	iv.Title = issueTitle
	iv.Canonical = links.IssueURL(issue.Number)
	iv.Description = preheader(issue.Articles)
	iv.Issue = &issueView{
		Title: issueTitle,
		Date:  formatDate(issue.Date),
		Count: fmt.Sprintf("%d %s", len(issue.Articles), plural(len(issue.Articles), "story", "stories")),
	}
	for _, g := range groupByTopic(issue.Articles) {
		gv := groupView{Topic: g.topic}
		for _, a := range g.articles {
			gv.Articles = append(gv.Articles, articleView{
				Title: tidy(a.Title), Meta: byline(a), Summary: tidy(a.Summary),
				URL: safeURL(a.URL), Page: links.ArticleURL(slugOf(a)),
				Lang: otherLang(a, lang), Dir: otherDir(a, lang),
			})
		}
		iv.Issue.Groups = append(iv.Issue.Groups, gv)
	}
	if err := render("issue.html.tmpl", IssueKey(issue.Number), CacheImmutable, iv); err != nil {
		return nil, err
	}

	// One page per article.
	seen := map[string]bool{}
	for _, a := range issue.Articles {
		slug := slugOf(a)
		if slug == "" || seen[slug] {
			continue
		}
		seen[slug] = true
		av := base
		av.Title = tidy(a.Title) + " · " + brand.Name
		av.Canonical = links.ArticleURL(slug)
		av.Description = shorten(tidy(a.Summary), 200)
		meta := byline(a)
		if d := formatDate(a.Published); d != "" {
			meta = strings.TrimPrefix(meta+" · "+d, " · ")
		}
		paras := a.Paragraphs
		if len(paras) == 0 && a.Summary != "" {
			paras = []string{a.Summary}
		}
		av.Article = &articleView{
			Title: tidy(a.Title), Meta: meta, Paragraphs: paras, URL: safeURL(a.URL),
			IssueURL: links.IssueURL(issue.Number), IssueTitle: issueTitle,
			Lang: otherLang(a, lang), Dir: otherDir(a, lang),
		}
		if err := render("article.html.tmpl", ArticleKey(slug), CacheImmutable, av); err != nil {
			return nil, err
		}
	}

	// The index and the feed, newest first, this issue replacing any
	// earlier summary of it.
	issues := []IssueSummary{Summarize(issue)}
	for _, s := range all {
		if s.Number != issue.Number {
			issues = append(issues, s)
		}
	}
	slices.SortFunc(issues, func(a, b IssueSummary) int { return cmp.Compare(b.Number, a.Number) })
	xv := base
	xv.Title = brand.Name + " archive"
	xv.Canonical = links.IndexURL()
	xv.Description = "Every issue of " + brand.Name + "."
	for _, s := range issues {
		xv.Issues = append(xv.Issues, indexEntry{
			Title: fmt.Sprintf("%s #%d", brand.Name, s.Number), URL: links.IssueURL(s.Number),
			Date: formatDate(s.Date), Subject: shorten(strings.Join(s.Titles, " · "), 200),
		})
	}
	if err := render("index.html.tmpl", IndexKey, CacheShort, xv); err != nil {
		return nil, err
	}
	feed, err := atomFeedXML(issues, brand, links)
	if err != nil {
		return nil, err
	}
	pages = append(pages, Page{Key: FeedKey, ContentType: "application/atom+xml; charset=utf-8", CacheControl: CacheShort, Body: feed})
	return pages, nil
}

// pageView is what the archive templates get.
type pageView struct {
	Title, Description, Lang, Dir, Canonical string
	IndexURL, FeedURL, SubscribeURL          string
	Brand                                    Brand
	Issue                                    *issueView
	Issues                                   []indexEntry
	Article                                  *articleView
}

type issueView struct {
	Title, Date, Count string
	Groups             []groupView
}

type groupView struct {
	Topic    string
	Articles []articleView
}

type articleView struct {
	Title, Meta, Summary string
	Paragraphs           []string
	URL, Page            string
	IssueURL, IssueTitle string
	Lang, Dir            string
}

type indexEntry struct {
	Title, URL, Date, Subject string
}

func otherLang(a gazette.Article, issueLang string) string {
	if l := baseLang(a.Language); l != "" && l != issueLang {
		return l
	}
	return ""
}

func otherDir(a gazette.Article, issueLang string) string {
	if l := otherLang(a, issueLang); l != "" {
		return direction(l)
	}
	return ""
}

// entryTitle is the issue's subject, else "Brand #N: first title".
func entryTitle(s IssueSummary, brand Brand) string {
	if s.Subject != "" {
		return s.Subject
	}
	t := fmt.Sprintf("%s #%d", brand.Name, s.Number)
	if len(s.Titles) > 0 {
		t += ": " + s.Titles[0]
	}
	return t
}

// slugOf is the article's slug, else its ID, made safe for keys and URLs.
func slugOf(a gazette.Article) string {
	if s := safeSlug(a.Slug); s != "" {
		return s
	}
	return safeSlug(a.ID)
}

func safeSlug(s string) string {
	b := []byte(strings.ToLower(strings.TrimSpace(s)))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-.")
}

// Atom (RFC 4287) as much as the feed needs.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
	URI  string `xml:"uri,omitempty"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomEntry struct {
	ID      string     `xml:"id"`
	Title   string     `xml:"title"`
	Updated string     `xml:"updated"`
	Links   []atomLink `xml:"link"`
	Summary string     `xml:"summary,omitempty"`
}

// atomTime formats t for Atom; a missing date becomes the epoch rather than
// an invalid feed.
func atomTime(t time.Time) string {
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t.UTC().Format(time.RFC3339)
}

func atomFeedXML(issues []IssueSummary, brand Brand, links Links) ([]byte, error) {
	f := atomFeed{
		ID:     links.FeedURL(),
		Title:  brand.Name,
		Author: atomPerson{Name: brand.Name, URI: brand.Link},
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: links.FeedURL()},
			{Rel: "alternate", Type: "text/html", Href: links.IndexURL()},
		},
	}
	var updated time.Time
	for i, s := range issues {
		if s.Date.After(updated) {
			updated = s.Date
		}
		if i >= maxFeedEntries {
			continue
		}
		f.Entries = append(f.Entries, atomEntry{
			ID:      links.IssueURL(s.Number),
			Title:   entryTitle(s, brand),
			Updated: atomTime(s.Date),
			Links:   []atomLink{{Rel: "alternate", Type: "text/html", Href: links.IssueURL(s.Number)}},
			Summary: strings.Join(s.Titles, " · "),
		})
	}
	f.Updated = atomTime(updated)
	out, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("atom feed: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// tidy collapses whitespace. Archive pages are not SES templates, so unlike
// clean it leaves braces alone.
func tidy(s string) string { return strings.Join(strings.Fields(s), " ") }
