package article

import (
	"net/url"
	"regexp"
	"strings"
	"sync"

	readability "github.com/go-shiori/go-readability"
	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/gazette-news/gazette/internal/gazette"
)

// policy is the sanitiser every piece of HTML goes through before its text
// is read: only text-bearing elements survive, links only with http(s) or
// mailto URLs, no attributes that run code or load anything. Elements that
// hold interface rather than content (forms, buttons, navigation) are
// dropped with their text, so a newsletter form's "Subscribe" label does
// not end up in a paragraph. bluemonday itself drops script, style,
// iframe, object and noscript with their content.
//
// The body Parse returns is plain text extracted from this sanitised HTML,
// so nothing of the markup reaches an email or the archive; sanitising
// first means the text extraction never sees hostile markup either.
var policy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "div", "span", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
		"ul", "ol", "li", "dl", "dt", "dd", "blockquote", "q", "pre", "code", "em", "strong", "b", "i", "u",
		"s", "small", "sub", "sup", "mark", "abbr", "cite", "time", "figure", "figcaption",
		"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "article", "section", "main", "header")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.RequireNoFollowOnLinks(true)
	p.SkipElementsContent("form", "button", "select", "textarea", "label", "nav", "aside", "footer",
		"menu", "dialog", "template", "svg", "math", "canvas", "audio", "video", "picture", "map")
	return p
})

// sanitize returns s with everything but the policy's elements removed.
func sanitize(s string) string { return policy().Sanitize(s) }

// blockTags end the current paragraph: each becomes (at most) one
// paragraph of text.
var blockTags = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Br: true, atom.Hr: true, atom.H1: true, atom.H2: true,
	atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true, atom.Ul: true, atom.Ol: true,
	atom.Li: true, atom.Dl: true, atom.Dt: true, atom.Dd: true, atom.Blockquote: true, atom.Pre: true,
	atom.Figure: true, atom.Figcaption: true, atom.Table: true, atom.Tr: true, atom.Td: true,
	atom.Th: true, atom.Caption: true, atom.Article: true, atom.Section: true, atom.Main: true,
	atom.Header: true, atom.Footer: true, atom.Aside: true, atom.Nav: true, atom.Form: true,
	atom.Body: true, atom.Html: true, atom.Tbody: true, atom.Thead: true, atom.Tfoot: true,
}

// skipTags never contribute text, whatever the input (the sanitiser
// removes them too; this is the second line of defence).
var skipTags = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Iframe: true, atom.Object: true,
	atom.Embed: true, atom.Template: true, atom.Svg: true, atom.Math: true, atom.Head: true,
	atom.Title: true, atom.Form: true, atom.Button: true, atom.Select: true, atom.Textarea: true,
	atom.Input: true, atom.Nav: true, atom.Canvas: true, atom.Audio: true, atom.Video: true,
}

// textWalker collects the text of a node tree as paragraphs.
type textWalker struct {
	out    []string
	cur    strings.Builder
	prefix string // "• " while inside a list item that has not printed yet
}

func (w *textWalker) flush() {
	if t := oneLine(w.cur.String()); t != "" {
		w.out = append(w.out, w.prefix+t)
		w.prefix = ""
	}
	w.cur.Reset()
}

func (w *textWalker) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		w.cur.WriteString(n.Data)
		return
	case html.ElementNode:
		if skipTags[n.DataAtom] {
			return
		}
	case html.CommentNode, html.DoctypeNode:
		return
	}
	block := blockTags[n.DataAtom]
	if block {
		w.flush()
		if n.DataAtom == atom.Li {
			w.prefix = "• "
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
	if block {
		w.flush()
	}
}

// fragmentParas sanitises an HTML fragment and returns its text as paragraphs.
func fragmentParas(s string) []string {
	nodes, err := html.ParseFragment(strings.NewReader(sanitize(s)), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		return nil
	}
	var w textWalker
	for _, n := range nodes {
		w.walk(n)
	}
	w.flush()
	return w.out
}

// markupRe finds what looks like a tag or an entity in text.
var markupRe = regexp.MustCompile(`<[A-Za-z/!?]|&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});`)

// stripMarkup returns text with any HTML tags removed and entities
// decoded. Plain text and JSON fields reach Parse from CMS exports and
// feeds that leave markup in; no markup may reach a subscriber.
func stripMarkup(s string) string {
	if !markupRe.MatchString(s) {
		return s
	}
	return strings.Join(fragmentParas(s), " ")
}

// pageMeta is what Parse reads from an HTML page's head that readability
// does not report.
type pageMeta struct {
	canonical, author, lang string
	description             string
	section                 string
	tags, keywords          []string
}

// readPageMeta reads canonical URL, tags, section and language from the
// head of a page, following the Open Graph and common news conventions.
func readPageMeta(doc *html.Node) pageMeta {
	var m pageMeta
	var ogURL string
	var visit func(*html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := func(k string) string {
				for _, a := range n.Attr {
					if strings.EqualFold(a.Key, k) {
						return strings.TrimSpace(a.Val)
					}
				}
				return ""
			}
			switch n.DataAtom {
			case atom.Html:
				m.lang = attr("lang")
			case atom.Link:
				if strings.EqualFold(attr("rel"), "canonical") && m.canonical == "" {
					m.canonical = attr("href")
				}
			case atom.Meta:
				name := strings.ToLower(attr("property") + attr("name"))
				content := attr("content")
				switch name {
				case "og:url":
					ogURL = content
				case "article:tag":
					m.tags = append(m.tags, content)
				case "description", "og:description":
					if m.description == "" {
						m.description = content
					}
				case "article:section":
					m.section = content
				case "keywords", "news_keywords":
					if m.keywords == nil {
						m.keywords = splitList(content)
					}
				case "author", "article:author":
					if m.author == "" && !strings.Contains(content, "://") {
						m.author = content
					}
				}
			case atom.Body:
				return // the head is all we need
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	visit(doc)
	if m.canonical == "" {
		m.canonical = ogURL
	}
	return m
}

// readHTML extracts the article from a whole web page with go-readability
// (a port of Mozilla's Readability, what Firefox's reader view uses) and
// reads its metadata.
func readHTML(text string) (*draft, error) {
	doc, err := html.Parse(strings.NewReader(text))
	if err != nil {
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_html", "the HTML page cannot be parsed: %v", err)
	}
	meta := readPageMeta(doc)
	var base *url.URL
	if u, err := url.Parse(meta.canonical); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		base = u
	}
	parser := readability.NewParser()
	art, err := parser.ParseDocument(doc, base)
	if err != nil {
		return nil, gazette.Errorf(gazette.KindInvalid, "only_boilerplate", "no article text was found in the HTML page: %v", err)
	}
	d := &draft{
		title:  art.Title,
		author: strings.TrimSpace(bylinePrefix.ReplaceAllString(art.Byline, "")),
		source: art.SiteName,
		url:    meta.canonical,
		image:  art.Image,
		lang:   art.Language,
		paras:  fragmentParas(art.Content),
	}
	if d.title == "" {
		d.noTitle = "the page has no <title>, og:title or headline"
	}
	if d.author == "" {
		d.author = meta.author
	}
	if d.lang == "" {
		d.lang = meta.lang
	}
	if art.PublishedTime != nil {
		d.published = art.PublishedTime.UTC()
	}
	// A description that ends in an ellipsis was cut by the CMS; a summary
	// built from the text reads better.
	// readability's Excerpt falls back to the first <p> of the page, which
	// may be a dateline, so only the page's own description is used.
	if ex := strings.TrimSpace(meta.description); wordCount(ex) >= 8 && !strings.HasSuffix(ex, "…") && !strings.HasSuffix(ex, "...") {
		d.summary = ex
	}
	if meta.section != "" {
		d.addTopics(meta.section)
	}
	d.addTopics(meta.tags...)
	if len(d.topics) == 0 && len(meta.keywords) > 0 {
		d.addTopics(meta.keywords[:min(len(meta.keywords), 5)]...)
	}
	return d, nil
}

// bylinePrefix is the "By" in front of a byline.
var bylinePrefix = regexp.MustCompile(`(?i)^\s*(?:by|von|par|por|di|door)\s+`)
