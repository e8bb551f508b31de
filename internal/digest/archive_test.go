package digest

import (
	"encoding/xml"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/mergetag"
)

// voidElements have no end tag in HTML.
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

// wellFormed checks that every element is closed in order, that the page
// starts with a doctype, and that x/net/html parses it.
func wellFormed(t *testing.T, body []byte) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(string(body)))
	var stack []string
	first := true
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatalf("tokenizer: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		if first {
			if tt != html.DoctypeToken {
				t.Fatalf("page does not start with a doctype: %v", tok)
			}
			first = false
		}
		switch tt {
		case html.StartTagToken:
			if atom.Lookup([]byte(tok.Data)) == 0 {
				t.Errorf("unknown element <%s>", tok.Data)
			}
			if !voidElements[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				t.Fatalf("</%s> closes %v", tok.Data, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
	if _, err := html.Parse(strings.NewReader(string(body))); err != nil {
		t.Fatal(err)
	}
}

// atomFeedTest is an independent reading of RFC 4287's required elements.
type atomFeedTest struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Title   string   `xml:"title"`
	Updated string   `xml:"updated"`
	Author  struct {
		Name string `xml:"name"`
	} `xml:"author"`
	Links []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Link    struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Summary string `xml:"summary"`
	} `xml:"entry"`
}

func TestPages(t *testing.T) {
	is := testIssue()
	earlier := []IssueSummary{
		{Number: 11, Date: fixedDate.AddDate(0, 0, -7), Subject: "Gazette #11: Older news", Titles: []string{"Older news"}},
		{Number: 12, Date: fixedDate, Subject: "stale summary of this issue"},
		{Number: 10, Date: fixedDate.AddDate(0, 0, -14), Titles: []string{"Oldest news"}},
	}
	pages, err := Pages(is, earlier, testBrand, testLinks)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Page{}
	var keys []string
	for _, p := range pages {
		byKey[p.Key] = p
		keys = append(keys, p.Key)
	}
	wantKeys := []string{IssueKey(12), IndexKey, FeedKey}
	for _, a := range is.Articles {
		wantKeys = append(wantKeys, "archive/articles/"+a.Slug+".html")
	}
	slices.Sort(keys)
	slices.Sort(wantKeys)
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}

	for _, p := range pages {
		if !strings.HasPrefix(p.Key, ArchivePrefix+"/") || p.CacheControl == "" {
			t.Errorf("%s: bad key or cache control %q", p.Key, p.CacheControl)
		}
		if p.Key == FeedKey {
			continue
		}
		t.Run(p.Key, func(t *testing.T) {
			if p.ContentType != "text/html; charset=utf-8" {
				t.Errorf("content type %q", p.ContentType)
			}
			wellFormed(t, p.Body)
			body := string(p.Body)
			// Article text may contain braces (archive pages are no SES
			// templates); what must not be there are our links.
			if strings.Contains(body, `href="{{`) || strings.Contains(body, "Hi "+mergetag.PlaceholderName) ||
				strings.Contains(body, ">Unsubscribe<") || strings.Contains(body, "GZPH") {
				t.Error("archive page carries per-recipient links or placeholders")
			}
			if !strings.Contains(body, testLinks.Subscribe) {
				t.Error("archive page lacks the generic subscribe link")
			}
		})
	}

	t.Run("golden", func(t *testing.T) {
		golden(t, "archive-issue.html.golden", string(byKey[IssueKey(12)].Body))
		golden(t, "archive-feed.xml.golden", string(byKey[FeedKey].Body))
	})
	t.Run("issue page", func(t *testing.T) {
		body := string(byKey[IssueKey(12)].Body)
		for _, a := range is.Articles {
			if !strings.Contains(body, `href="`+testLinks.ArticleURL(a.Slug)+`"`) {
				t.Errorf("no link to %s's page", a.Slug)
			}
		}
		if !strings.Contains(body, `<article lang="he" dir="rtl">`) {
			t.Error("Hebrew article not marked right to left")
		}
	})
	t.Run("article page", func(t *testing.T) {
		body := string(byKey["archive/articles/xi-backs-putin.html"].Body)
		for _, p := range is.Articles[0].Paragraphs {
			if !strings.Contains(body, "<p>"+p+"</p>") {
				t.Errorf("full text lacks %q", p)
			}
		}
		if !strings.Contains(body, `href="`+testLinks.IssueURL(12)+`"`) {
			t.Error("no link back to the issue")
		}
	})
	t.Run("index", func(t *testing.T) {
		body := string(byKey[IndexKey].Body)
		var pos []int
		for _, n := range []int{12, 11, 10} {
			i := strings.Index(body, testLinks.IssueURL(n))
			if i < 0 {
				t.Fatalf("index lacks issue %d", n)
			}
			pos = append(pos, i)
		}
		if !slices.IsSorted(pos) {
			t.Error("index is not newest first")
		}
	})
	t.Run("atom", func(t *testing.T) {
		p := byKey[FeedKey]
		if !strings.HasPrefix(p.ContentType, "application/atom+xml") {
			t.Errorf("content type %q", p.ContentType)
		}
		var f atomFeedTest
		if err := xml.Unmarshal(p.Body, &f); err != nil {
			t.Fatal(err)
		}
		if f.ID == "" || f.Title == "" || f.Author.Name == "" {
			t.Errorf("feed lacks id, title or author: %+v", f)
		}
		if _, err := time.Parse(time.RFC3339, f.Updated); err != nil {
			t.Errorf("feed updated: %v", err)
		}
		self := false
		for _, l := range f.Links {
			self = self || (l.Rel == "self" && l.Href == testLinks.FeedURL())
		}
		if !self {
			t.Error("feed lacks its self link")
		}
		if len(f.Entries) != 3 {
			t.Fatalf("%d entries, want 3", len(f.Entries))
		}
		for _, e := range f.Entries {
			if u, err := url.Parse(e.ID); err != nil || !u.IsAbs() {
				t.Errorf("entry id %q is not an absolute IRI", e.ID)
			}
			if e.Title == "" || e.Link.Href == "" {
				t.Errorf("entry lacks title or link: %+v", e)
			}
			if _, err := time.Parse(time.RFC3339, e.Updated); err != nil {
				t.Errorf("entry updated: %v", err)
			}
		}
		if got := f.Entries[0].Summary; !strings.Contains(got, is.Articles[0].Title) {
			t.Errorf("newest entry summary %q does not list this issue's titles", got)
		}
	})
}

func TestPagesErrors(t *testing.T) {
	tests := []struct {
		name  string
		issue gazette.Issue
		links Links
		code  string
	}{
		{"no archive base", testIssue(), Links{}, "no_archive_base"},
		{"empty issue", gazette.Issue{Number: 3}, testLinks, "empty_issue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Pages(tt.issue, nil, testBrand, tt.links); gazette.CodeOf(err) != tt.code {
				t.Errorf("err = %v, want code %s", err, tt.code)
			}
		})
	}
}
