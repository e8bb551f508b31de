package article

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/adrg/frontmatter"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"

	"github.com/gazette-news/gazette/internal/gazette"
)

// markdown renders CommonMark with GitHub's tables and strikethrough.
//
// Raw HTML is passed through (WithUnsafe) on purpose: the output always
// goes through the bluemonday policy before its text is read, and the
// sanitiser can only drop a <script> or <iframe> with its content when it
// sees the element whole. goldmark's safe mode removes just the tags of
// inline HTML and would leave the script's code behind as text.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.Table, extension.Strikethrough),
	goldmark.WithRendererOptions(gmhtml.WithUnsafe()),
)

// metadata reads article fields from a front matter or a JSON object,
// accepting the names Hugo, Jekyll and common CMS exports use.
type metadata map[string]any

// get returns the first present value among keys, ignoring case.
func (m metadata) get(keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok && v != nil {
			return v
		}
		for mk, v := range m {
			if strings.EqualFold(mk, k) && v != nil {
				return v
			}
		}
	}
	return nil
}

// str returns the first non-empty string among keys. Names in objects
// ({"name": …}) and the first element of lists count.
func (m metadata) str(keys ...string) string {
	for _, k := range keys {
		if s := asString(m.get(k)); s != "" {
			return s
		}
	}
	return ""
}

// list returns the strings among keys: lists, comma-separated strings and
// objects with a name, in key order.
func (m metadata) list(keys ...string) []string {
	var out []string
	for _, k := range keys {
		switch v := m.get(k).(type) {
		case string:
			out = append(out, splitList(v)...)
		case []any:
			for _, e := range v {
				if s := asString(e); s != "" {
					out = append(out, s)
				}
			}
		case nil:
		default:
			if s := asString(v); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// date returns the first date among keys.
func (m metadata) date(d *draft, keys ...string) time.Time {
	for _, k := range keys {
		switch v := m.get(k).(type) {
		case time.Time:
			return v.UTC()
		case string:
			if t, ok := parseDate(v); ok {
				return t
			}
			if strings.TrimSpace(v) != "" {
				d.warn(fmt.Sprintf("the %s %q is not a date Gazette can read; it was ignored", k, v))
			}
		}
	}
	return time.Time{}
}

// asString reads a scalar, the name/url of an object, or the first
// element of a list as a string.
func asString(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	case float64, int, int64, uint64, bool:
		return fmt.Sprint(v)
	case []any:
		for _, e := range v {
			if s := asString(e); s != "" {
				return s
			}
		}
	case map[string]any:
		return metadata(v).str("name", "title", "url", "src", "image")
	case map[any]any: // YAML v2 nests maps with interface keys
		m := metadata{}
		for k, e := range v {
			m[fmt.Sprint(k)] = e
		}
		return m.str("name", "title", "url", "src", "image")
	}
	return ""
}

// fill copies the common metadata fields into d.
func (m metadata) fill(d *draft) {
	d.title = m.str("title", "headline", "name")
	d.summary = m.str("summary", "description", "excerpt", "abstract", "dek", "subtitle")
	d.author = strings.Join(m.list("author", "authors", "byline", "creator"), ", ")
	d.source = m.str("source", "publication", "publisher", "site", "site_name")
	d.url = m.str("canonical", "canonicalURL", "canonical_url", "url", "link", "permalink")
	d.image = m.str("image", "images", "featured_image", "featuredImage", "cover", "thumbnail", "lead_image")
	d.slug = m.str("slug")
	d.lang = m.str("lang", "language", "locale")
	d.published = m.date(d, "published", "date", "publishDate", "publish_date", "pubDate", "datePublished", "created")
	d.addTopics(m.list("topics", "categories", "category", "tags", "keywords")...)
	if len(d.topics) > 10 {
		d.topics = d.topics[:10]
	}
	if draft, _ := m.get("draft").(bool); draft {
		d.warn("the front matter says draft: true; the article was read anyway")
	}
}

// atxTitle and setextUnderline recognise a Markdown title heading.
var (
	atxTitle        = regexp.MustCompile(`^#\s+(.+?)(?:\s+#+)?\s*$`)
	setextUnderline = regexp.MustCompile(`^=+\s*$`)
)

// readMarkdown reads Markdown with optional YAML or TOML front matter.
// Without a title in the front matter, a leading "# Title" heading (or the
// first line, as in plain text) is the title.
func readMarkdown(text string) (*draft, error) {
	var meta map[string]any
	body, err := frontmatter.Parse(strings.NewReader(text), &meta)
	if err != nil {
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_front_matter", "the front matter at the top of the file cannot be read: %v", err)
	}
	if meta == nil && frontMatterRe.MatchString(strings.TrimLeft(text, " \t\n")) {
		delim := strings.TrimSpace(strings.SplitN(strings.TrimLeft(text, " \t\n"), "\n", 2)[0])
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_front_matter", "the front matter opened with %q on the first line is never closed; end it with a line %q", delim, strings.TrimSuffix(strings.TrimSuffix(delim, "yaml"), "toml"))
	}
	d := &draft{}
	metadata(meta).fill(d)

	lines := strings.Split(strings.TrimLeft(string(body), " \t\n"), "\n")
	if d.title == "" && len(lines) > 0 {
		switch {
		case atxTitle.MatchString(lines[0]):
			d.title = atxTitle.FindStringSubmatch(lines[0])[1]
			lines = lines[1:]
		case len(lines) > 1 && setextUnderline.MatchString(lines[1]):
			d.title = lines[0]
			lines = lines[2:]
		default:
			t, err := readText(lines[0])
			if err == nil && t.title != "" {
				d.title = t.title
				lines = lines[1:]
			} else {
				d.noTitle = "the front matter has no title and the text does not start with a \"# Title\" heading"
			}
		}
	}
	var out bytes.Buffer
	if err := markdown.Convert([]byte(strings.Join(lines, "\n")), &out); err != nil {
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_markdown", "the Markdown cannot be rendered: %v", err)
	}
	d.paras = fragmentParas(out.String())
	return d, nil
}
