// Package article turns one file an editor uploaded into a clean,
// normalised gazette.Article, or refuses it with a reason a person can read.
//
// It reads plain text (first line the title, as copied from a web page or a
// feed), Markdown with YAML or TOML front matter (Hugo and Jekyll fields),
// whole HTML pages (the article is extracted with go-readability and
// sanitised with bluemonday) and JSON drops. Text in UTF-8 (with or without
// a byte-order mark), UTF-16 and the legacy Western 8-bit encodings is
// converted to UTF-8 in Unicode normal form C.
//
// The body comes out as plain-text paragraphs: no markup at all survives,
// so whatever renders an article (an email template, the archive) only has
// to escape text. Page chrome that travels with copied articles
// (syndication footers, share and reaction widgets, related-links lists,
// comment forms, cookie and newsletter prompts, menus) is removed by the
// general rules in clean.go; every removal is listed in Article.Warnings.
//
// The package does no I/O and imports nothing from AWS.
package article

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/araddon/dateparse"
	"golang.org/x/text/unicode/norm"

	"github.com/gazette-news/gazette/internal/gazette"
)

// DefaultMaxBytes is the largest file Parse accepts when Options.MaxBytes is 0.
const DefaultMaxBytes = 5 << 20

// SummaryLimit is the longest summary Parse produces, in characters.
const SummaryLimit = 300

// maxTitle is the longest title kept, in characters. Longer first lines of
// a text file are paragraphs, not titles.
const maxTitle = 250

// Options tune Parse; the zero value is usable.
type Options struct {
	DefaultTopic string // used when no topic is found; "" means "news"
	MaxBytes     int    // refuse larger input; 0 means 5 MiB
}

// draft is an article on its way through Parse: what a format reader found,
// before cleaning and normalisation.
type draft struct {
	format    string
	title     string
	noTitle   string // why there is no title, in words, when title is ""
	summary   string
	author    string
	source    string // publication named by metadata (front matter, og:site_name)
	url       string
	image     string
	slug      string
	lang      string
	published time.Time
	topics    []string
	paras     []string
	warnings  []string

	// Filled by the cleaning rules.
	syndicated string // publication named by a syndication footer
	copyright  string // holder named by a copyright line
}

func (d *draft) warn(w string) { d.warnings = append(d.warnings, w) }

// addTopics adds topics, tidied and without duplicates (ignoring case).
func (d *draft) addTopics(ts ...string) {
	for _, t := range ts {
		t = strings.Join(strings.Fields(strings.TrimLeft(t, "#")), " ")
		t = strings.Trim(t, ` .,;:"'“”`)
		if t == "" || utf8.RuneCountInString(t) > 60 {
			continue
		}
		if !slices.ContainsFunc(d.topics, func(o string) bool { return strings.EqualFold(o, t) }) {
			d.topics = append(d.topics, t)
		}
	}
}

// Parse turns one file an editor uploaded (name is the S3 key or file name,
// used for the extension) into a normalised gazette.Article.
//
// Refusals return a *gazette.Error with Kind gazette.KindInvalid, a short
// Code ("empty", "too_large", "binary", "bad_encoding", "bad_json",
// "bad_front_matter", "no_title", "only_boilerplate") and a Message that
// says which rule refused the file and where. Status, Issue, ObjectKey and
// IngestedAt are left for the caller to set.
func Parse(name string, data []byte, opts Options) (gazette.Article, error) {
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if len(data) > limit {
		return gazette.Article{}, gazette.Errorf(gazette.KindInvalid, "too_large",
			"the file is %s; articles may be at most %s", byteSize(len(data)), byteSize(limit))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return gazette.Article{}, gazette.Errorf(gazette.KindInvalid, "empty", "the file is empty")
	}
	ext := strings.ToLower(path.Ext(name))
	dec, err := decode(data, ext == ".html" || ext == ".htm" || looksLikeHTML(string(data[:min(len(data), 1024)])))
	if err != nil {
		return gazette.Article{}, err
	}
	text := cleanText(dec.text)
	if strings.TrimSpace(text) == "" {
		return gazette.Article{}, gazette.Errorf(gazette.KindInvalid, "empty", "the file contains only white space or invisible characters")
	}

	format, why := detectFormat(ext, text)
	var d *draft
	switch format {
	case formatJSON:
		d, err = readJSON(text)
	case formatMarkdown:
		d, err = readMarkdown(text)
	case formatHTML:
		d, err = readHTML(text)
	default:
		d, err = readText(text)
	}
	if err != nil {
		return gazette.Article{}, err
	}
	d.format = format
	d.warnings = append(append(dec.warnings, why...), d.warnings...)
	return finish(d, opts)
}

// finish cleans a draft and turns it into the normalised article.
func finish(d *draft, opts Options) (gazette.Article, error) {
	d.title = oneLine(stripMarkup(d.title))
	if d.title == "" {
		why := d.noTitle
		if why == "" {
			why = "no title was found"
		}
		return gazette.Article{}, gazette.Errorf(gazette.KindInvalid, "no_title", "%s (read as %s)", why, d.format)
	}
	if utf8.RuneCountInString(d.title) > maxTitle {
		d.title = cutWords(d.title, maxTitle)
		d.warn(fmt.Sprintf("the title was longer than %d characters and was shortened", maxTitle))
	}

	paras := d.paras[:0]
	for _, p := range d.paras {
		if p = oneLine(stripMarkup(p)); p != "" {
			paras = append(paras, p)
		}
	}
	d.paras = paras
	before := len(d.paras)
	clean(d)
	if len(d.paras) == 0 {
		if before == 0 {
			return gazette.Article{}, gazette.Errorf(gazette.KindInvalid, "only_boilerplate",
				"the file has a title (%q) but no body text (read as %s)", d.title, d.format)
		}
		return gazette.Article{}, gazette.Errorf(gazette.KindInvalid, "only_boilerplate",
			"all %d paragraphs under the title %q are page chrome (%s); nothing of an article is left (read as %s)",
			before, d.title, strings.Join(removalNames(d.warnings), "; "), d.format)
	}

	a := gazette.Article{
		Title:      d.title,
		Paragraphs: d.paras,
		Author:     oneLine(stripMarkup(d.author)),
		Published:  d.published,
	}
	a.Summary = oneLine(stripMarkup(d.summary))
	if a.Summary == "" {
		a.Summary = summarize(d.paras, SummaryLimit)
	} else if utf8.RuneCountInString(a.Summary) > SummaryLimit {
		a.Summary = cutSentence(a.Summary, SummaryLimit)
	}
	for _, s := range []string{d.syndicated, d.source, d.copyright} {
		if s = cleanSource(oneLine(s)); s != "" {
			a.Source = s
			break
		}
	}
	a.URL = absURL(d, d.url, "URL")
	a.Image = absURL(d, d.image, "image")
	if a.Image != "" && trackingPixel.MatchString(a.Image) {
		d.warn("the lead image looks like a tracking pixel and was dropped")
		a.Image = ""
	}
	for _, p := range d.paras {
		a.Words += wordCount(p)
	}
	a.Language = normLang(d.lang)
	if detected := detectLanguage(d.title, d.paras); detected != "" {
		if a.Language != "" && a.Language != detected {
			d.warn(fmt.Sprintf("the file declares language %q but the text reads as %q; using %q", a.Language, detected, detected))
		}
		a.Language = detected
	}
	if len(d.topics) == 0 {
		t := opts.DefaultTopic
		if t == "" {
			t = "news"
		}
		d.addTopics(t)
	}
	a.Topics = d.topics
	a.ID = contentID(a.Title, a.Paragraphs)
	a.Slug = slugify(d.slug)
	if a.Slug == "" {
		a.Slug = slugify(a.Title)
	}
	if a.Slug == "" {
		a.Slug = "article-" + a.ID[:8]
	}
	a.Warnings = compact(d.warnings)
	return a, nil
}

// contentID is the stable ID of an article: the first 16 bytes of the
// SHA-256 of its normalised title and body, in hex. The same article
// uploaded twice, under another name or in another encoding, gets the
// same ID, so storing it is idempotent.
func contentID(title string, paras []string) string {
	h := sha256.New()
	h.Write([]byte(title))
	for _, p := range paras {
		h.Write([]byte{'\n'})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// trackingPixel matches image URLs that are beacons rather than pictures.
var trackingPixel = regexp.MustCompile(`(?i)(?:^data:|[/_.-](?:pixel|beacon|spacer|tracking|tracker|1x1|transparent)(?:[/_.?-]|$)|[?&](?:w|width|h|height)=1(?:&|$))`)

// absURL keeps u when it is an absolute http(s) URL: relative links mean
// nothing in an email, and other schemes (javascript:, data:) are unsafe.
func absURL(d *draft, u, what string) string {
	u = strings.TrimSpace(u)
	if u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		// Only a relative path is echoed back: anything else may be
		// hostile, and warnings end up in logs and reason files.
		if err == nil && p.Scheme == "" && p.Host == "" && !strings.ContainsAny(u, "<>\"'") {
			d.warn(fmt.Sprintf("the %s %q is relative, not an absolute http(s) URL, and was dropped", what, u))
		} else {
			d.warn(fmt.Sprintf("the %s is not an absolute http(s) URL and was dropped", what))
		}
		return ""
	}
	return p.String()
}

// removalNames lists the cleaning warnings, for a refusal message.
func removalNames(ws []string) []string {
	var out []string
	for _, w := range ws {
		if strings.HasPrefix(w, "removed ") {
			out = append(out, strings.TrimPrefix(w, "removed "))
		}
	}
	return out
}

// compact removes duplicate warnings, keeping the first of each.
func compact(ws []string) []string {
	var out []string
	for _, w := range ws {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// oneLine collapses all white space to single spaces and trims it.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cutWords shortens s to at most n characters at a word boundary, adding "…".
func cutWords(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	cut := string(r)
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:-–—") + "…"
}

// abbreviations end with a dot that does not end a sentence.
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "st": true, "jr": true, "sr": true,
	"vs": true, "etc": true, "inc": true, "ltd": true, "co": true, "corp": true, "gen": true, "gov": true,
	"sen": true, "rep": true, "no": true, "nr": true, "fig": true, "approx": true, "ca": true, "bzw": true,
	"mme": true, "mlle": true, "sr.": true, "sra": true, "jan": true, "feb": true, "mar": true, "apr": true,
	"jun": true, "jul": true, "aug": true, "sep": true, "sept": true, "oct": true, "nov": true, "dec": true,
}

// sentenceEnds returns the byte offsets just after each sentence end in s:
// a ., ! or ? (or …, 。) followed by a space and a capital, digit or quote,
// where a dot after an abbreviation, an initial or a dotted acronym
// ("U.S.") does not count.
func sentenceEnds(s string) []int {
	var ends []int
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if !strings.ContainsRune(".!?…。！？", r) {
			continue
		}
		j := i
		for j < len(s) && strings.ContainsRune(`"'”’»)`, rune(s[j])) {
			j++
		}
		if j == len(s) {
			ends = append(ends, j)
			break
		}
		if s[j] != ' ' {
			continue
		}
		next, _ := utf8.DecodeRuneInString(s[j+1:])
		if !unicode.IsUpper(next) && !unicode.IsDigit(next) && !strings.ContainsRune(`"'“‘«(¿¡`, next) {
			continue
		}
		if r == '.' {
			start := strings.LastIndexByte(s[:i-1], ' ') + 1
			tok := s[start : i-1]
			if strings.Contains(tok, ".") || abbreviations[strings.ToLower(tok)] ||
				(utf8.RuneCountInString(tok) == 1 && unicode.IsUpper([]rune(tok)[0])) {
				continue
			}
		}
		ends = append(ends, j)
	}
	return ends
}

// cutSentence shortens s to at most limit characters at a sentence
// boundary; when the first sentence alone is longer, at a word boundary
// with "…".
func cutSentence(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	best := 0
	for _, e := range sentenceEnds(s) {
		if utf8.RuneCountInString(s[:e]) > limit {
			break
		}
		best = e
	}
	if best > 0 {
		return strings.TrimSpace(s[:best])
	}
	return cutWords(s, limit)
}

// summarize builds a summary from the first meaningful paragraphs (ones
// that read like prose, not captions or subheadings): whole paragraphs
// while they fit in limit, or the first one cut at a sentence boundary.
func summarize(paras []string, limit int) string {
	var out string
	for _, p := range paras {
		if wordCount(p) < 8 || !sentenceEnd(p) {
			continue
		}
		joined := p
		if out != "" {
			joined = out + " " + p
		}
		if utf8.RuneCountInString(joined) <= limit {
			out = joined
			if utf8.RuneCountInString(out) >= limit/2 {
				break
			}
			continue
		}
		if out == "" {
			out = cutSentence(p, limit)
		} else if more := cutSentence(p, limit-utf8.RuneCountInString(out)-1); !strings.HasSuffix(more, "…") && utf8.RuneCountInString(out) < limit/2 {
			out += " " + more
		}
		break
	}
	if out == "" && len(paras) > 0 {
		out = cutSentence(paras[0], limit)
	}
	return out
}

// slugFold spells letters that Unicode decomposition does not reduce to
// ASCII the way people write them in URLs.
var slugFold = strings.NewReplacer("ß", "ss", "æ", "ae", "Æ", "ae", "ø", "o", "Ø", "o", "œ", "oe", "Œ", "oe",
	"ł", "l", "Ł", "l", "đ", "d", "Đ", "d", "þ", "th", "Þ", "th", "&", " and ")

// slugify makes a URL path segment from s: ASCII letters and digits in
// lower case, separated by single hyphens, at most 80 characters cut at a
// hyphen. Accents are dropped ("Café" → "cafe"). Text in scripts without an
// ASCII transliteration gives "", and the caller falls back to the ID.
func slugify(s string) string {
	s = norm.NFD.String(slugFold.Replace(s))
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r) || r == '\'' || r == '’':
			// accents and apostrophes vanish: "don't" → "dont"
		default:
			dash = true
		}
	}
	out := b.String()
	if len(out) > 80 {
		out = out[:80]
		if i := strings.LastIndexByte(out, '-'); i > 40 {
			out = out[:i]
		}
		out = strings.Trim(out, "-")
	}
	return out
}

// parseDate reads a date in any common notation; dates without a zone are
// taken as UTC, and all dates are returned in UTC so that the same moment
// always prints the same way.
func parseDate(s string) (t time.Time, ok bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "on "), "On ")
	if s == "" || len(s) > 60 {
		return time.Time{}, false
	}
	defer func() {
		// dateparse has panicked on odd input in the past; a date is never
		// worth refusing an article for.
		if recover() != nil {
			t, ok = time.Time{}, false
		}
	}()
	t, err := dateparse.ParseIn(s, time.UTC)
	if err != nil || t.Year() < 1900 || t.Year() > 2200 {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// byteSize formats a size for people.
func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
