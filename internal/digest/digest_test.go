package digest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/mergetag"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/digest -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from golden file (-want +got); if the change is intended, run go test ./internal/digest -update:\n%s", name, diff)
	}
}

func mustRender(t testing.TB, issue gazette.Issue, opts Options) mergetag.Email {
	t.Helper()
	e, err := Render(issue, testBrand, testLinks, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRenderGolden(t *testing.T) {
	e := mustRender(t, testIssue(), Options{})
	t.Run("subject", func(t *testing.T) { golden(t, "issue.subject.golden", e.Subject+"\n") })
	t.Run("html", func(t *testing.T) { golden(t, "issue.html.golden", e.HTML) })
	t.Run("text", func(t *testing.T) { golden(t, "issue.txt.golden", e.Text) })
	c, err := RenderConfirmation(testBrand, "Ada", "https://gazette.example/confirm?t=abc&x=1")
	if err != nil {
		t.Fatal(err)
	}
	// The confirmation carries the year of rendering; pin it for the file.
	year := regexp.MustCompile(`© \d{4} `)
	t.Run("confirmation html", func(t *testing.T) { golden(t, "confirmation.html.golden", year.ReplaceAllString(c.HTML, "© YEAR ")) })
	t.Run("confirmation text", func(t *testing.T) { golden(t, "confirmation.txt.golden", year.ReplaceAllString(c.Text, "© YEAR ")) })
}

var placeholderRE = regexp.MustCompile(`\{\{[^{}]*\}\}`)

// TestPlaceholders checks that the placeholders come out of CSS inlining and
// text conversion intact and in the right places, and that article content
// cannot smuggle in placeholders of its own.
func TestPlaceholders(t *testing.T) {
	e := mustRender(t, testIssue(), Options{})
	tests := []struct {
		name, part, want string
	}{
		{"name in html", e.HTML, "Hi " + mergetag.PlaceholderName + ","},
		{"unsubscribe href", e.HTML, `href="` + mergetag.PlaceholderUnsubscribeURL + `"`},
		{"preferences href", e.HTML, `href="` + mergetag.PlaceholderPreferencesURL + `"`},
		{"name in text", e.Text, "Hi " + mergetag.PlaceholderName + ","},
		{"unsubscribe in text", e.Text, "Unsubscribe: " + mergetag.PlaceholderUnsubscribeURL},
		{"preferences in text", e.Text, "Manage preferences: " + mergetag.PlaceholderPreferencesURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.part, tt.want) {
				t.Errorf("missing %q", tt.want)
			}
		})
	}
	allowed := map[string]bool{mergetag.PlaceholderName: true, mergetag.PlaceholderUnsubscribeURL: true, mergetag.PlaceholderPreferencesURL: true}
	for part, s := range map[string]string{"subject": e.Subject, "html": e.HTML, "text": e.Text} {
		t.Run("only ours in "+part, func(t *testing.T) {
			for _, p := range placeholderRE.FindAllString(s, -1) {
				if !allowed[p] {
					t.Errorf("unexpected placeholder %q", p)
				}
			}
			if strings.Contains(s, "GZPH") {
				t.Error("a sentinel survived")
			}
		})
	}
	t.Run("uninlined", func(t *testing.T) {
		// The placeholders must be in the inlined output: no <style> rule
		// left for classes the inliner handled, and placeholders still there.
		if !strings.Contains(e.HTML, `style="`) {
			t.Fatal("CSS was not inlined")
		}
	})
}

// TestPersonalizeRendered fills a rendered issue: no placeholder survives
// hermes' inlining and text conversion unfilled. mergetag's tests cover the
// filling itself.
func TestPersonalizeRendered(t *testing.T) {
	p := mergetag.Personalize(mustRender(t, testIssue(), Options{}), mergetag.RecipientData("Ada", "https://gazette.example/u/tok", "https://gazette.example/p/tok"))
	if placeholderRE.MatchString(p.HTML) || placeholderRE.MatchString(p.Text) {
		t.Error("placeholders left after Personalize")
	}
	if !strings.Contains(p.HTML, `href="https://gazette.example/u/tok"`) || !strings.Contains(p.Text, "Hi Ada,") {
		t.Error("values not filled in")
	}
}

// TestSizeGuard checks that long issues degrade instead of being clipped.
func TestSizeGuard(t *testing.T) {
	const gmailClip = 102 * 1024
	tests := []struct {
		name      string
		articles  int
		wantMore  bool
		fullTexts bool // summaries kept whole
	}{
		{"small issue untouched", 5, false, true},
		{"shorter summaries first", 70, false, false},
		{"200 articles cut with and N more", 200, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := longIssue(tt.articles)
			e := mustRender(t, is, Options{})
			if len(e.HTML) >= gmailClip || len(e.HTML) > DefaultMaxHTMLBytes {
				t.Fatalf("HTML is %d bytes, want ≤ %d", len(e.HTML), DefaultMaxHTMLBytes)
			}
			shown := strings.Count(e.HTML, "Read more")
			if gotFull := strings.Contains(e.HTML, is.Articles[0].Summary[:300]); gotFull != tt.fullTexts {
				t.Errorf("full summaries = %v, want %v", gotFull, tt.fullTexts)
			}
			more := regexp.MustCompile(`and (\d+) more stor`).FindStringSubmatch(e.HTML)
			if (more != nil) != tt.wantMore {
				t.Fatalf(`"and N more" present = %v, want %v`, more != nil, tt.wantMore)
			}
			if !tt.wantMore {
				if shown != tt.articles {
					t.Errorf("%d articles shown, want %d", shown, tt.articles)
				}
				return
			}
			if want := fmt.Sprint(tt.articles - shown); more[1] != want {
				t.Errorf("says %s more, want %s (%d shown)", more[1], want, shown)
			}
			if shown < tt.articles/4 {
				t.Errorf("only %d articles shown in %d bytes; the guard cuts too much", shown, len(e.HTML))
			}
			if !strings.Contains(e.Text, "more stories in this issue's web edition: "+testLinks.IssueURL(is.Number)) {
				t.Error(`text part lacks the "and N more" link`)
			}
		})
	}
}

func TestDarkModeAndHead(t *testing.T) {
	tests := []struct {
		name      string
		issue     gazette.Issue
		lang, dir string
	}{
		{"english", testIssue(), "en", "ltr"},
		{"hebrew", func() gazette.Issue {
			is := testIssue()
			for i := range is.Articles {
				is.Articles[i].Language = "he-IL"
			}
			return is
		}(), "he", "rtl"},
		{"arabic majority", func() gazette.Issue {
			is := testIssue()
			for i := range 3 {
				is.Articles[i].Language = "ar"
			}
			return is
		}(), "ar", "rtl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustRender(t, tt.issue, Options{})
			doc, err := html.Parse(strings.NewReader(e.HTML))
			if err != nil {
				t.Fatal(err)
			}
			root := find(doc, "html")
			if got := attr(root, "lang") + " " + attr(root, "dir"); got != tt.lang+" "+tt.dir {
				t.Errorf("html lang/dir = %q, want %q", got, tt.lang+" "+tt.dir)
			}
			metas := map[string]string{}
			walk(doc, func(n *html.Node) {
				if n.Type == html.ElementNode && n.Data == "meta" && attr(n, "name") != "" {
					metas[attr(n, "name")] = attr(n, "content")
				}
			})
			for _, name := range []string{"color-scheme", "supported-color-schemes"} {
				if metas[name] != "light dark" {
					t.Errorf("meta %s = %q, want \"light dark\"", name, metas[name])
				}
			}
			if !strings.Contains(e.HTML, "@media (prefers-color-scheme:dark)") {
				t.Error("no dark-mode styles")
			}
			if title := find(doc, "title"); title == nil || title.FirstChild == nil || title.FirstChild.Data != e.Subject {
				t.Errorf("<title> is not the subject %q", e.Subject)
			}
			pre := findClass(doc, "preheader")
			if pre == nil || !strings.Contains(attr(pre, "style"), "display:none") {
				t.Fatal("no hidden preheader")
			}
			if !strings.HasPrefix(text(pre), tt.issue.Articles[0].Title) {
				t.Errorf("preheader %q does not start with the first title", text(pre))
			}
		})
	}
}

var tagRE = regexp.MustCompile(`</?[a-zA-Z][^>]*>|&[a-z]+;|&#\d+;`)

func TestPlainText(t *testing.T) {
	is := testIssue()
	e := mustRender(t, is, Options{})
	if m := tagRE.FindString(e.Text); m != "" {
		t.Errorf("text part has markup %q", m)
	}
	for _, a := range is.Articles {
		t.Run(a.Slug, func(t *testing.T) {
			link := a.URL
			if link == "" {
				link = testLinks.ArticleURL(a.Slug)
			}
			if !strings.Contains(e.Text, "Read more: "+link) {
				t.Errorf("text lacks link %q", link)
			}
			if !strings.Contains(e.Text, clean(a.Title)) {
				t.Errorf("text lacks title %q", a.Title)
			}
		})
	}
	for _, want := range []string{testBrand.PostalAddress, testBrand.Why, "View in your browser: " + testLinks.IssueURL(12)} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
}

func TestSubject(t *testing.T) {
	one := testIssue()
	one.Articles = one.Articles[:1]
	tests := []struct {
		name, pattern string
		issue         gazette.Issue
		want          string
		wantErr       bool
	}{
		{"default", "", testIssue(), "Gazette #12: Xi backs Putin requesting security assurances from the West + 4 more", false},
		{"default one article", "", one, "Gazette #12: Xi backs Putin requesting security assurances from the West", false},
		{"all variables", "{brand} {number} {count} {more} {date} {title}", one, "Gazette 12 1 0 5 March 2026 Xi backs Putin requesting security assurances from the West", false},
		{"escapes", `\[{number}\] \{x\}[ ({more})]`, testIssue(), "[12] {x} (4)", false},
		{"braces in title are broken", "{title}", gazette.Issue{Number: 1, Articles: []gazette.Article{{Title: "A {{b}} c"}}}, "A { {b} } c", false},
		{"unknown variable", "{nope}", one, "", true},
		{"unclosed group", "[{more}", one, "", true},
		{"unclosed variable", "{more", one, "", true},
		{"stray bracket", "a]", one, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Render(tt.issue, testBrand, testLinks, Options{SubjectPattern: tt.pattern})
			if tt.wantErr {
				if gazette.KindOf(err) != gazette.KindInvalid {
					t.Fatalf("err = %v, want an invalid-kind error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Subject != tt.want {
				t.Errorf("subject = %q, want %q", e.Subject, tt.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	if _, err := Render(gazette.Issue{Number: 1}, testBrand, testLinks, Options{}); gazette.CodeOf(err) != "empty_issue" {
		t.Errorf("empty issue: err = %v", err)
	}
	if _, err := RenderConfirmation(testBrand, "Ada", "javascript:alert(1)"); gazette.CodeOf(err) != "bad_confirm_url" {
		t.Errorf("bad confirm URL: err = %v", err)
	}
}

func TestRenderConfirmation(t *testing.T) {
	const link = "https://gazette.example/confirm?t=abc&x=1"
	c, err := RenderConfirmation(testBrand, "Ada {{x}}", link)
	if err != nil {
		t.Fatal(err)
	}
	if placeholderRE.MatchString(c.HTML + c.Text + c.Subject) {
		t.Error("confirmation mail has placeholders")
	}
	if n := strings.Count(c.HTML, `href="https://gazette.example/confirm?t=abc&amp;x=1"`); n != 2 {
		t.Errorf("confirm link appears %d times in HTML, want 2 (button and fallback)", n)
	}
	for _, want := range []string{"Confirm subscription: " + link, testBrand.PostalAddress, "Hi Ada"} {
		if !strings.Contains(c.Text, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if strings.Contains(c.HTML, "nsubscribe") {
		t.Error("a confirmation mail has nothing to unsubscribe from")
	}
}

func TestLinks(t *testing.T) {
	l := Links{ArchiveBase: "https://x.example/archive/"}
	tests := []struct{ name, got, want string }{
		{"issue", l.IssueURL(3), "https://x.example/archive/issues/3.html"},
		{"article", l.ArticleURL("a-b"), "https://x.example/archive/articles/a-b.html"},
		{"odd slug", l.ArticleURL("A b/../c"), "https://x.example/archive/articles/a-b-..-c.html"},
		{"index", l.IndexURL(), "https://x.example/archive/index.html"},
		{"feed", l.FeedURL(), "https://x.example/archive/feed.xml"},
		{"no base", Links{}.IssueURL(3), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func BenchmarkRender(b *testing.B) {
	is := testIssue()
	for b.Loop() {
		if _, err := Render(is, testBrand, testLinks, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPersonalize(b *testing.B) {
	e := mustRender(b, testIssue(), Options{})
	data := mergetag.RecipientData("Ada Lovelace", "https://gazette.example/u/0123456789abcdef0123456789abcdef", "https://gazette.example/p/0123456789abcdef0123456789abcdef")
	b.SetBytes(int64(len(e.HTML) + len(e.Text)))
	for b.Loop() {
		_ = mergetag.Personalize(e, data)
	}
}

// HTML helpers.

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func find(doc *html.Node, tag string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode && n.Data == tag {
			found = n
		}
	})
	return found
}

func findClass(doc *html.Node, class string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ") {
			found = n
		}
	})
	return found
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}
