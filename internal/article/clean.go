package article

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the cleaning rules: how page chrome, widgets and
// syndication footers that travel with a copied article are recognised and
// removed. Every rule is general (it describes a kind of boilerplate, not a
// particular site's wording) and lives in a table so that adding one is a
// one-line change with a name that shows up in the article's warnings.
//
// Rules run on paragraphs (blocks of text), in this order:
//
//  1. repeated title lines at the top are dropped;
//  2. category and tag lines anywhere ("More in: News", "Tags: a, b") become
//     topics and are dropped;
//  3. a syndication footer ("The post … appeared first on X.") names the
//     source and ends the article: it and everything after it go;
//  4. a widget heading ("You may also like", "Leave a reply", "What's your
//     reaction?") after the body ends the article the same way;
//  5. single boilerplate lines anywhere (newsletter and cookie prompts,
//     share buttons, ad labels, comment-form notes, menus) are dropped;
//  6. a byline or date line near the top becomes metadata;
//  7. a paragraph identical to the one before it is dropped;
//  8. trailing short lines without sentence punctuation (menus, tag clouds,
//     reaction buttons) are dropped.
//
// Rules 3 and 4 cut the rest of the text because what follows a footer or
// a widget heading on a copied page is more chrome, in shapes too varied
// to list (reaction words, link titles, comment forms). Rule 4 guards
// against cutting an article in half: it needs prose before the heading
// and less prose after it than before.

// footerRule recognises a syndication footer. Group 1 of re is the name of
// the original publication.
type footerRule struct {
	name string
	re   *regexp.Regexp
}

// footerRules are syndication footers, as WordPress feeds and syndication
// services add them (the WordPress wording in the languages we detect, since
// feeds carry the site's locale), and as editors write them by hand.
var footerRules = []footerRule{
	{"WordPress feed footer", regexp.MustCompile(`(?i)^the post\s.+\sappeared first on\s+(.+?)\.?$`)},
	{"WordPress feed footer (de)", regexp.MustCompile(`(?i)^der beitrag\s.+\serschien zuerst auf\s+(.+?)\.?$`)},
	{"WordPress feed footer (fr)", regexp.MustCompile(`(?i)^l['’]article\s.+\sest apparu en premier sur\s+(.+?)\.?$`)},
	{"WordPress feed footer (es)", regexp.MustCompile(`(?i)^la entrada\s.+\sse publicó primero en\s+(.+?)\.?$`)},
	{"WordPress feed footer (it)", regexp.MustCompile(`(?i)^l['’]articolo\s.+\sproviene da\s+(.+?)\.?$`)},
	{"WordPress feed footer (pt)", regexp.MustCompile(`(?i)^o post\s.+\sapareceu primeiro em\s+(.+?)\.?$`)},
	{"WordPress feed footer (nl)", regexp.MustCompile(`(?i)^het bericht\s.+\sverscheen eerst op\s+(.+?)\.?$`)},
	{"originally-published note", regexp.MustCompile(`(?i)^(?:this (?:article|story|post|piece|column|essay) (?:was |is |has been )?)?(?:originally|first) (?:published|posted|appeared|ran)(?: (?:on|at|in|by))?\s+(.+?)(?:\.\s.*|\.|,.*|\s+(?:under|and|on \d|in \d).*)?$`)},
	{"republished note", regexp.MustCompile(`(?i)^(?:this (?:article|story|post|piece) (?:is |was |has been )?)?(?:republished|reprinted|reproduced)(?: with permission)? (?:from|by)\s+(.+?)(?:\.\s.*|\.|,.*|\s+under.*)?$`)},
	{"German syndication note", regexp.MustCompile(`(?i)^dieser (?:beitrag|artikel) (?:erschien|ist) (?:zuerst|ursprünglich) (?:auf|bei|in)\s+(.+?)(?:\s+erschienen)?\.?$`)},
	{"French syndication note", regexp.MustCompile(`(?i)^cet article (?:a été|est) (?:initialement|d['’]abord|originellement) (?:publié|paru) (?:sur|dans|par)\s+(.+?)\.?$`)},
}

// action is what a boilerplate rule does with the paragraph it matches.
type action int

const (
	// dropLine removes the matching paragraph only.
	dropLine action = iota
	// cutRest removes the matching paragraph and everything after it: the
	// heading of a widget that is followed by more widgets to the end of
	// the page. It only cuts after the body (see cutWidgets).
	cutRest
)

// rule recognises one kind of boilerplate paragraph.
type rule struct {
	name     string // what the paragraph is, for warnings
	re       *regexp.Regexp
	maxWords int // only paragraphs with at most this many words match
	action   action
	// hints, when set, are lower-case words one of which a paragraph must
	// contain for re to be tried: a cheap filter that keeps the unanchored
	// expressions off the thousands of body paragraphs of long articles.
	hints []string
}

// heading builds a regexp matching a whole short line made of one of the
// given alternatives, ignoring case and trailing punctuation: widget
// headings and buttons are whole lines, and matching whole lines is what
// keeps these rules from eating sentences that merely mention the words.
func heading(alternatives string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)^(?:` + alternatives + `)\s*[:?!.…»›>]*$`)
}

// boilerplate are the rules for widgets and page chrome.
var boilerplate = []rule{
	// Widget headings: what follows them to the end is more of the widget
	// or of the page (reaction buttons, link lists, comment forms).
	{"reaction widget", heading(`what['’]?s your (?:reaction|opinion|take)|how (?:do|did) you feel(?: about this(?: article| post| story)?)?|(?:rate|did you (?:like|enjoy)) this(?: article| post| story)?|was this (?:article |post |story )?(?:helpful|useful)`), 10, cutRest, nil},
	{"related-links widget", heading(`(?:you|we think you) (?:may|might|will|would) (?:also )?(?:like|enjoy)|related(?: (?:posts?|articles?|stories|news|content|reading|coverage|topics|links))?|(?:read|see) (?:more|also|next)|more (?:stories|articles|news|from [\p{L} ]+)|recommended(?: (?:for you|reading|articles|stories))?|(?:most )?popular(?: (?:posts|stories|articles|now))?|trending(?: now| stories| posts)?|most (?:read|viewed|shared|popular)|latest (?:news|posts|stories|articles)|don['’]?t miss|up next|keep reading|further reading|in other news|lesen sie auch|weitere artikel|à lire aussi|lire aussi|sur le même sujet|te puede interesar|leggi anche`), 8, cutRest, nil},
	{"comment section", heading(`leave a (?:reply|comment|response)|(?:post|add|write|submit) (?:a |your )?comment|\d+ (?:comments?|responses?|replies)|comments?(?: \(\d+\))?|join the (?:discussion|conversation)|comments? (?:are )?closed|cancel reply|kommentare?|schreibe einen kommentar|kommentar schreiben|laisser un commentaire|laissez un commentaire|deja un comentario|lascia un commento|commentaires?|comentarios?|commenti`), 8, cutRest, nil},

	// Single lines that can appear anywhere around the text.
	{"share buttons", heading(`share(?: this| the)?(?: (?:article|post|story|page))?(?: (?:on|via|with) [\p{L} ]+)?|click to (?:share|print|email)[\p{L} ]*|like this|follow us(?: on [\p{L} ]+)?|tweet|pin it|copy link|e-?mail|print|facebook|twitter|x|linkedin|reddit|whatsapp|telegram|pinterest|tumblr|pocket|mastodon|threads|instagram|youtube|tiktok|teilen|partager|compartir|condividi`), 6, dropLine, nil},
	{"share buttons", regexp.MustCompile(`(?i)^(?:(?:share|tweet|facebook|twitter|linkedin|email|e-mail|whatsapp|reddit|print|pinterest|telegram)[\s,|·•/]*){2,}$`), 12, dropLine, nil},
	{"advertisement label", heading(`advertisement|advertising|anzeige|publicité|publicidad|pubblicità|sponsored(?: content)?|ads?|promoted|story continues below(?: advertisement)?|continue reading (?:below|the main story)|scroll to continue(?: with content)?`), 6, dropLine, nil},
	{"navigation", heading(`skip to (?:main )?content|menu|search|home|toggle navigation|close|open menu|back to top|loading|log ?in|sign ?in|subscribe|register|next|previous|(?:next|previous) (?:article|post|story)|zum inhalt springen|aller au contenu`), 4, dropLine, nil},
	{"newsletter prompt", regexp.MustCompile(`(?i)\b(?:subscribe|sign up|signup|register|join)\b.{0,80}\bnewsletters?\b|\bnewsletters?\b.{0,80}\b(?:subscribe|sign up|inbox|e-?mail address)\b|\b(?:delivered|straight|directly) to your inbox\b|\bnewsletter abonnieren\b|\babonnez-vous\b`), 40, dropLine, []string{"newsletter", "inbox", "abonn"}},
	{"cookie prompt", regexp.MustCompile(`(?i)\bcookies?\b.{0,100}\b(?:accept|consent|agree|policy|settings|preferences|experience|browsing)\b|\b(?:we|this (?:web)?site|our site) uses? cookies\b|\baccept (?:all )?cookies\b`), 60, dropLine, []string{"cookie"}},
	{"comment form", regexp.MustCompile(`(?i)your email address will not be published|required fields are marked|save my name,? e-?mail|notify me of (?:follow-up comments|new posts)|you must be logged in to post a comment|this site uses akismet`), 40, dropLine, []string{"mail", "required", "notify", "logged in", "akismet"}},
	{"copyright line", regexp.MustCompile(`(?i)^(?:©|\(c\)|copyright\b)`), 25, dropLine, []string{"©", "(c)", "copyright"}},
}

// topicLine is a category or tag line. Group 1 is the label, group 2 the
// list of topics.
var topicLine = regexp.MustCompile(`(?i)^(more in|filed under|categor(?:y|ies)|tags?|tagged(?: with)?|topics?|posted in|section|rubrik|schlagworte|catégories?|rubrique|mots-clés|etiquetas|categoría)\s*:\s*(.+?)\.?$|^(?i:(more in|filed under|posted in))\s+(.+?)\.?$`)

// bylineRe is a byline: "By Jane Doe", "By Jane Doe and Max Mustermann, Reuters",
// "By Jane Doe | March 3, 2024". Group 1 is the name(s), group 2 what
// follows a separator (often a date or an affiliation).
var bylineRe = regexp.MustCompile(`^(?i:by|von|par|por|di|door|written by)\s+(\p{Lu}[\p{L}\p{M}.'’-]*(?:\s+(?:\p{Lu}[\p{L}\p{M}.'’-]*|de|da|van|von|der|den|la|le|di|du|dos|del|and|und|et|y|e|&))*)\s*(?:$|[,|·•—–]\s*(.*)$|\s-\s*(.*)$)`)

// authorLabel is an explicit "Author: Jane Doe" line.
var authorLabel = regexp.MustCompile(`(?i)^(?:author|written by|words by|autor|auteur|autore)\s*:\s*(.{2,80})$`)

// dateLabel is an explicit date line: "Published: March 3, 2024".
var dateLabel = regexp.MustCompile(`(?i)^(?:published|posted|updated|date|veröffentlicht|publié(?: le)?|publicado|pubblicato)(?:\s+on)?\s*:?\s+(.{6,60})$`)

// sentenceEnd reports whether s ends like a sentence (or a quote of one).
func sentenceEnd(s string) bool {
	s = strings.TrimRight(s, `"'”’»)]*`)
	r, _ := utf8.DecodeLastRuneInString(s)
	return strings.ContainsRune(".!?…:;。！？", r)
}

// wordCount counts words: runs of letters or digits with inner
// apostrophes, hyphens and dots kept together ("don't", "U.S.", "3.5").
func wordCount(s string) int {
	n := 0
	in := false
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) {
			if !in {
				n++
				in = true
			}
			continue
		}
		if in && strings.ContainsRune(`'’-.`, r) {
			continue
		}
		in = false
	}
	return n
}

// proseWords counts the words in paragraphs that read like prose: enough
// words and sentence punctuation. Widget text rarely does.
func proseWords(paras []string) int {
	n := 0
	for _, p := range paras {
		if w := wordCount(p); w >= 8 && sentenceEnd(p) {
			n += w
		}
	}
	return n
}

// isMenuLine reports whether p looks like a navigation menu or breadcrumb:
// three or more short items separated by |, ›, », ·, • or " / ".
func isMenuLine(p string) bool {
	if sentenceEnd(p) && !strings.HasSuffix(p, "»") {
		return false
	}
	parts := menuSep.Split(p, -1)
	if len(parts) < 3 {
		return false
	}
	for _, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if wordCount(part) > 4 {
			return false
		}
	}
	return true
}

var menuSep = regexp.MustCompile(`\s*(?:[|›»·•>]|\s/\s)\s*`)

// matchRule returns the first boilerplate rule that p matches.
func matchRule(p string) (rule, bool) {
	w := wordCount(p)
	var lower string
	for _, r := range boilerplate {
		if r.maxWords > 0 && w > r.maxWords {
			continue
		}
		if r.hints != nil {
			if lower == "" {
				lower = strings.ToLower(p)
			}
			if !slices.ContainsFunc(r.hints, func(h string) bool { return strings.Contains(lower, h) }) {
				continue
			}
		}
		if r.re.MatchString(p) {
			return r, true
		}
	}
	if w <= 30 && isMenuLine(p) {
		return rule{name: "navigation menu", action: dropLine}, true
	}
	return rule{}, false
}

// key is the form of a text used to compare titles and paragraphs: lower
// case letters and digits, single spaces.
func key(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		} else {
			space = true
		}
	}
	return b.String()
}

// cleaner applies the rules to one draft and records what it did.
type cleaner struct {
	d       *draft
	memo    map[string]memoRule // matchRule results: pages repeat their chrome lines
	removed map[string]int      // rule name → paragraphs removed, for warnings
	order   []string            // rule names in the order first used
}

func (c *cleaner) note(name string, n int) {
	if n == 0 {
		return
	}
	if c.removed == nil {
		c.removed = map[string]int{}
	}
	if _, ok := c.removed[name]; !ok {
		c.order = append(c.order, name)
	}
	c.removed[name] += n
}

// clean runs every rule on d.paras in the documented order.
func clean(d *draft) {
	c := &cleaner{d: d}
	c.dropTitleRepeats()
	c.takeTopicLines()
	c.cutFooter()
	c.cutWidgets()
	c.dropLines()
	c.takeMetadata()
	c.dropRepeats()
	c.dropTrailing()
	for _, name := range c.order {
		n := c.removed[name]
		unit := "paragraphs"
		if n == 1 {
			unit = "paragraph"
		}
		d.warn(fmt.Sprintf("removed %d %s: %s", n, unit, name))
	}
}

type memoRule struct {
	r  rule
	ok bool
}

// match is matchRule with a memo.
func (c *cleaner) match(p string) (rule, bool) {
	if m, ok := c.memo[p]; ok {
		return m.r, m.ok
	}
	r, ok := matchRule(p)
	if c.memo == nil {
		c.memo = map[string]memoRule{}
	}
	c.memo[p] = memoRule{r, ok}
	return r, ok
}

// dropTitleRepeats removes copies of the title at the top of the body:
// copy-pasted pages and feeds often repeat it as a heading.
func (c *cleaner) dropTitleRepeats() {
	tk := key(c.d.title)
	if tk == "" {
		return
	}
	n := 0
	for n < len(c.d.paras) && n < 3 && key(c.d.paras[n]) == tk {
		n++
	}
	c.d.paras = c.d.paras[n:]
	c.note("repeated title", n)
}

// takeTopicLines turns category and tag lines into topics. It looks at the
// whole text, including the chrome that later rules cut, because that is
// where sites print them.
func (c *cleaner) takeTopicLines() {
	out := c.d.paras[:0]
	n := 0
	for _, p := range c.d.paras {
		if wordCount(p) <= 20 {
			if m := topicLine.FindStringSubmatch(p); m != nil {
				list := m[2]
				if list == "" {
					list = m[4]
				}
				c.d.addTopics(splitList(list)...)
				n++
				continue
			}
		}
		out = append(out, p)
	}
	c.d.paras = out
	c.note("category/tag line (kept as topics)", n)
}

// cutFooter finds a syndication footer after the body, takes the source
// from it and drops it with everything after it.
func (c *cleaner) cutFooter() {
	for i, p := range c.d.paras {
		if i == 0 || wordCount(p) > 60 {
			continue
		}
		for _, f := range footerRules {
			m := f.re.FindStringSubmatch(p)
			if m == nil {
				continue
			}
			if src := cleanSource(m[1]); src != "" {
				c.d.syndicated = src
			}
			c.note(f.name, 1)
			c.note("page chrome after the syndication footer", len(c.d.paras)-i-1)
			c.d.paras = c.d.paras[:i]
			return
		}
	}
}

// cutWidgets finds the first widget heading that comes after the body and
// drops it with everything after it. "After the body" means there is prose
// before it and less prose after it than before: a heading that happens to
// read like a widget in the middle of an article must not cut it in half.
func (c *cleaner) cutWidgets() {
	// prose[i] is the prose word count of paras[:i]; prefix sums keep this
	// linear on files made of thousands of widget lines.
	prose := make([]int, len(c.d.paras)+1)
	for i, p := range c.d.paras {
		prose[i+1] = prose[i] + proseWords([]string{p})
	}
	total := prose[len(c.d.paras)]
	for i, p := range c.d.paras {
		if wordCount(p) > 10 {
			continue // every cutRest rule is a short heading
		}
		r, ok := c.match(p)
		if !ok || r.action != cutRest {
			continue
		}
		before, after := prose[i], total-prose[i+1]
		if before < 15 || after >= before {
			continue
		}
		c.note(r.name, len(c.d.paras)-i)
		c.d.paras = c.d.paras[:i]
		return
	}
}

// dropLines removes single boilerplate lines wherever they are.
func (c *cleaner) dropLines() {
	out := c.d.paras[:0]
	for _, p := range c.d.paras {
		if r, ok := c.match(p); ok {
			if r.name == "copyright line" && c.d.copyright == "" {
				c.d.copyright = cleanSource(copyrightHolder(p))
			}
			c.note(r.name, 1)
			continue
		}
		out = append(out, p)
	}
	c.d.paras = out
}

// takeMetadata turns a byline or a date line among the first paragraphs
// into the author and the date, when the format did not give them.
func (c *cleaner) takeMetadata() {
	out := make([]string, 0, len(c.d.paras))
	for i, p := range c.d.paras {
		if i >= 4 || wordCount(p) > 16 || (sentenceEnd(p) && !strings.HasSuffix(p, ".") && wordCount(p) > 10) {
			out = append(out, p)
			continue
		}
		if m := bylineRe.FindStringSubmatch(p); m != nil && wordCount(m[1]) <= 8 {
			if c.d.author == "" {
				c.d.author = strings.TrimSpace(m[1])
			}
			rest := m[2] + m[3]
			if t, ok := parseDate(rest); ok && c.d.published.IsZero() {
				c.d.published = t
			}
			c.note("byline (kept as author)", 1)
			continue
		}
		if m := authorLabel.FindStringSubmatch(p); m != nil {
			if c.d.author == "" {
				c.d.author = strings.TrimSpace(m[1])
			}
			c.note("byline (kept as author)", 1)
			continue
		}
		if m := dateLabel.FindStringSubmatch(p); m != nil {
			if t, ok := parseDate(m[1]); ok {
				if c.d.published.IsZero() {
					c.d.published = t
				}
				c.note("date line (kept as published date)", 1)
				continue
			}
		}
		if utf8.RuneCountInString(p) <= 40 {
			if t, ok := parseDate(p); ok {
				if c.d.published.IsZero() {
					c.d.published = t
				}
				c.note("date line (kept as published date)", 1)
				continue
			}
		}
		out = append(out, p)
	}
	c.d.paras = out
}

// dropRepeats removes a paragraph identical to the one before it (a pull
// quote or a caption rendered twice).
func (c *cleaner) dropRepeats() {
	out := c.d.paras[:0]
	n := 0
	for i, p := range c.d.paras {
		if i > 0 && key(p) == key(c.d.paras[i-1]) {
			n++
			continue
		}
		out = append(out, p)
	}
	c.d.paras = out
	c.note("repeated paragraph", n)
}

// dropTrailing removes short lines without sentence punctuation from the
// end: what is left of menus, tag clouds and buttons once the rules above
// ran. A body rarely ends on a six-word fragment.
func (c *cleaner) dropTrailing() {
	n := 0
	for len(c.d.paras) > 0 {
		p := c.d.paras[len(c.d.paras)-1]
		if wordCount(p) > 6 || sentenceEnd(p) {
			break
		}
		c.d.paras = c.d.paras[:len(c.d.paras)-1]
		n++
	}
	c.note("trailing page chrome (short lines without punctuation)", n)
}

// copyrightHolder returns the name in a copyright line.
func copyrightHolder(p string) string {
	s := copyrightPrefix.ReplaceAllString(p, "")
	if i := strings.Index(strings.ToLower(s), "all rights reserved"); i >= 0 {
		s = s[:i]
	}
	return s
}

var copyrightPrefix = regexp.MustCompile(`(?i)^(?:©|\(c\)|copyright)\s*(?:©\s*)?(?:\d{4}(?:\s*[-–]\s*\d{4})?)?\s*`)

// cleanSource tidies a publication name taken from a footer: trims
// punctuation and markup remnants, and refuses long phrases that are not
// names.
func cleanSource(s string) string {
	s = strings.TrimSpace(s)
	s = strings.Trim(s, ` .,;:!"'“”‘’«»()[]`)
	s = strings.TrimSpace(strings.TrimPrefix(s, "the "))
	if s == "" || wordCount(s) > 8 || utf8.RuneCountInString(s) > 80 {
		return ""
	}
	return s
}

// splitList splits a list of topics on commas, semicolons, pipes, bullets
// and slashes.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return strings.ContainsRune(",;|•·/#", r)
	})
}
