package article

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"

	"github.com/gazette-news/gazette/internal/gazette"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json and the encoded fixtures from testdata/src")

// encodedFixtures are written from UTF-8 sources in testdata/src, so that
// the legacy-encoded bytes are reproducible and the source stays readable.
var encodedFixtures = map[string]func([]byte) ([]byte, error){
	"fr_cp1252.txt": func(b []byte) ([]byte, error) {
		return charmap.Windows1252.NewEncoder().Bytes(b)
	},
	"es_utf16le_bom.txt": func(b []byte) ([]byte, error) {
		crlf := bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
		return xunicode.UTF16(xunicode.LittleEndian, xunicode.UseBOM).NewEncoder().Bytes(crlf)
	},
}

func writeEncodedFixtures(t *testing.T) {
	t.Helper()
	for name, enc := range encodedFixtures {
		src, err := os.ReadFile(filepath.Join("testdata", "src", name))
		if err != nil {
			t.Fatal(err)
		}
		out, err := enc(src)
		if err != nil {
			t.Fatalf("encode %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixtures lists the article files in testdata (not the sources or goldens).
func fixtures(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) < 9 {
		t.Fatalf("only %d fixtures in testdata", len(names))
	}
	return names
}

// TestGolden parses every fixture and compares the article with its golden
// JSON; run with -update to rewrite the goldens after a deliberate change.
func TestGolden(t *testing.T) {
	if *update {
		writeEncodedFixtures(t)
	}
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			a, err := Parse(name, data, Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := json.MarshalIndent(a, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/article -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("article differs from %s (-want +got):\n%s", golden, diff)
			}
			checkInvariants(t, a)
		})
	}
}

// unsafe matches anything of HTML that must never reach a reader: tags,
// event handlers, script URLs, and the marker text the hostile fixtures
// put inside script, iframe, form, svg and object elements.
var unsafe = regexp.MustCompile(`(?i)<\s*[a-z/!]|\bon[a-z]+\s*=|javascript:|vbscript:|data:text|INJECTED|IFRAME FALLBACK|SVG TEXT|OBJECT TEXT|password|Submit form|alert\(|document\.cookie|pixel|beacon|1x1`)

// checkInvariants asserts what every accepted article must satisfy.
func checkInvariants(t *testing.T, a gazette.Article) {
	t.Helper()
	if a.Title == "" || a.ID == "" || a.Slug == "" || len(a.Paragraphs) == 0 || len(a.Topics) == 0 {
		t.Errorf("incomplete article: title %q id %q slug %q paragraphs %d topics %v", a.Title, a.ID, a.Slug, len(a.Paragraphs), a.Topics)
	}
	if len(a.ID) != 32 {
		t.Errorf("ID %q is not 32 hex digits", a.ID)
	}
	if !regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`).MatchString(a.Slug) {
		t.Errorf("slug %q is not a clean URL segment", a.Slug)
	}
	if n := utf8.RuneCountInString(a.Summary); n > SummaryLimit {
		t.Errorf("summary is %d characters, over %d", n, SummaryLimit)
	}
	all := append([]string{a.Title, a.Summary, a.Source, a.Author, a.URL, a.Image, a.Slug, a.Language}, a.Paragraphs...)
	all = append(all, a.Topics...)
	for _, s := range all {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8 in %q", s)
		}
		if m := unsafe.FindString(s); m != "" {
			t.Errorf("unsafe content %q in %q", m, s)
		}
		if strings.TrimSpace(s) != s || strings.Contains(s, "  ") || strings.ContainsAny(s, "\n\r\t\u00a0\u200b") {
			t.Errorf("unnormalised white space in %q", s)
		}
	}
	if a.Status != "" || a.Issue != 0 || a.ObjectKey != "" || !a.IngestedAt.IsZero() {
		t.Errorf("Parse set caller-owned fields: %+v", a)
	}
}

// TestSameContentSameID checks that an article's ID depends on its
// content only: not on the file name, the encoding or line endings.
func TestSameContentSameID(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "src", "fr_cp1252.txt"))
	if err != nil {
		t.Fatal(err)
	}
	cp1252, err := os.ReadFile(filepath.Join("testdata", "fr_cp1252.txt"))
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string][]byte{
		"utf8.txt":     src,
		"cp1252.txt":   cp1252,
		"bom-crlf.txt": append([]byte("\xEF\xBB\xBF"), bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n"))...),
		"no-ext":       src,
	}
	var ids []string
	for name, data := range variants {
		a, err := Parse(name, data, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids = append(ids, a.ID)
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("IDs differ across encodings of one article: %v", ids)
		}
	}
}

// TestRefusals checks that bad files are refused with the right code and a
// message that says why.
func TestRefusals(t *testing.T) {
	chrome := "Great headline here\n\nShare this:\nTwitter\nFacebook\n\nYou may also like\n\nLeave a reply\n\nYour email address will not be published. Required fields are marked *\n\nMore in:News\n"
	longLine := strings.Repeat("This is a sentence that goes on. ", 10)
	tests := []struct {
		name, file string
		data       string
		opts       Options
		code       string
		msg        string // a fragment the message must contain
	}{
		{"empty", "a.txt", "", Options{}, "empty", "empty"},
		{"only white space", "a.txt", " \n\t\r\n  ", Options{}, "empty", "empty"},
		{"only a byte-order mark", "a.txt", "\xEF\xBB\xBF\u200B\n", Options{}, "empty", "invisible"},
		{"too large", "a.txt", strings.Repeat("x", 101), Options{MaxBytes: 100}, "too_large", "at most 100 bytes"},
		{"too large by default", "a.txt", strings.Repeat("x", DefaultMaxBytes+1), Options{}, "too_large", "5.0 MiB"},
		{"binary NUL", "a.txt", "Title\x00\x01\x02", Options{}, "binary", "NUL byte at offset 5"},
		{"binary controls", "a.txt", strings.Repeat("\x01\x02\x03ab", 50), Options{}, "binary", "control characters"},
		{"PDF", "a.txt", "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n", Options{}, "binary", "PDF"},
		{"PNG", "photo.md", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", Options{}, "binary", "PNG image"},
		{"docx", "story.txt", "PK\x03\x04\x14\x00\x06\x00", Options{}, "binary", "ZIP"},
		{"only boilerplate", "a.txt", chrome, Options{}, "only_boilerplate", "page chrome"},
		{"title without body", "a.txt", "Just a headline\n\n", Options{}, "only_boilerplate", "no body text"},
		{"only chrome lines", "a.txt", "Share\nTwitter\nFacebook\n", Options{}, "no_title", "page chrome"},
		{"no title: paragraph first", "a.txt", longLine + "\n\nMore text.", Options{}, "no_title", "first line"},
		{"no title: JSON", "a.json", `{"body": "Some text that is long enough to be a paragraph."}`, Options{}, "no_title", `no "title"`},
		{"no title: HTML", "a.html", "<html><body><p>" + longLine + "</p></body></html>", Options{}, "no_title", "<title>"},
		{"no title: Markdown", "a.md", "---\nauthor: X\n---\n\n" + longLine + "\n", Options{}, "no_title", "front matter has no title"},
		{"bad JSON syntax", "a.json", "{\n  \"title\": \"x\",\n  \"body\": [\"a\",]\n}", Options{}, "bad_json", "line 3"},
		{"JSON array", "a.json", `[{"title":"a","body":"b"}]`, Options{}, "bad_json", "JSON array"},
		{"JSON body number", "a.json", `{"title":"a","body":42}`, Options{}, "bad_json", `"body" is a JSON number`},
		{"JSON body array of objects", "a.json", `{"title":"a","body":[{"p":1}]}`, Options{}, "bad_json", "body[0]"},
		{"JSON without body", "a.json", `{"title":"a"}`, Options{}, "bad_json", `no "body"`},
		{"two JSON values", "a.json", `{"title":"a","body":"b"} {}`, Options{}, "bad_json", "more than one"},
		{"unclosed front matter", "a.md", "---\ntitle: A\n\nBody text here.\n", Options{}, "bad_front_matter", "never closed"},
		{"invalid YAML", "a.md", "---\ntitle: [unclosed\n---\n\nBody.\n", Options{}, "bad_front_matter", "cannot be read"},
		{"front matter not a map", "a.md", "---\n- a\n- b\n---\n\nBody.\n", Options{}, "bad_front_matter", "cannot be read"},
		{"UTF-16 odd length", "a.txt", "\xFF\xFEa\x00b", Options{}, "bad_encoding", "odd number of bytes"},
		{"UTF-16 unpaired surrogates", "a.txt", "\xFF\xFE" + strings.Repeat("\x00\xD8a\x00", 20), Options{}, "bad_encoding", "could not be decoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.file, []byte(tt.data), tt.opts)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", a)
			}
			var e *gazette.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *gazette.Error", err, err)
			}
			if e.Kind != gazette.KindInvalid || e.Code != tt.code {
				t.Errorf("kind %v code %q, want invalid %q (%v)", e.Kind, e.Code, tt.code, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err.Error(), tt.msg)
			}
			if gazette.Retryable(err) {
				t.Errorf("refusal %v is retryable", err)
			}
		})
	}
}

// TestNoUnsafeOutput feeds hostile markup through every format and checks
// that no markup, script or tracking pixel survives.
func TestNoUnsafeOutput(t *testing.T) {
	const hostile = `<script>alert(1)</script><p onclick="alert(2)">Visible text stays, <a href="javascript:alert(3)">link text too</a>.</p>` +
		`<img src="https://t.example/pixel.gif" width="1" height="1" onerror="alert(4)"><iframe src="https://x.example">IFRAME FALLBACK</iframe>` +
		`<form action="https://x.example"><input name="password"><button>Submit form</button></form><style>p{}</style>` +
		`<svg onload="alert(5)"><text>SVG TEXT</text></svg><object>OBJECT TEXT</object>`
	body := "The council met on Monday to discuss the budget for next year in detail. " + hostile
	cases := map[string]string{
		"a.txt":  "A safe title\n\n" + body + "\n\nThe meeting ended at nine in the evening after a long debate.\n",
		"a.md":   "---\ntitle: A safe title\nimage: javascript:alert(6)\nurl: \"javascript:alert(7)\"\n---\n\n" + body + "\n\nThe meeting ended at nine in the evening after a long debate.\n",
		"a.json": `{"title":"A <b onmouseover=\"alert(8)\">safe</b> title","image":"data:image/gif;base64,R0lGOD","body":` + mustJSON(t, body) + `}`,
		"a.html": "<!doctype html><html><head><title>A safe title</title><meta property=\"og:image\" content=\"javascript:alert(9)\"></head><body><article><h1>A safe title</h1><p>" +
			strings.Repeat("The council met on Monday to discuss the budget for next year in detail. ", 8) + "</p>" + hostile + "</article></body></html>",
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			a, err := Parse(name, []byte(data), Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, a)
			out, _ := json.Marshal(a)
			if m := unsafe.Find(bytes.ReplaceAll(out, []byte(`\u003c`), []byte("<"))); m != nil {
				t.Errorf("unsafe %q in %s", m, out)
			}
			if !strings.Contains(string(out), "Visible text stays, link text too.") {
				t.Errorf("the harmless text was lost: %s", out)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCleaningRules checks single rules on small texts.
func TestCleaningRules(t *testing.T) {
	body := "The first paragraph of the article says something of substance about the town.\n\n" +
		"The second paragraph goes on with quotes, numbers and the details readers want.\n\n"
	tests := []struct {
		name       string
		text       string
		wantLast   string // last paragraph kept
		wantSource string
		wantTopics []string
		wantAuthor string
	}{
		{"WordPress footer", body + "The post A title appeared first on Daily Example.\n\nIn Love\nNot Sure\n", "readers want.", "Daily Example", []string{"news"}, ""},
		{"originally published", body + "This article was originally published on The Conversation. Read the original article.\n\nPopular\n", "readers want.", "The Conversation", []string{"news"}, ""},
		{"republished", body + "This story is republished with permission from Grist, under a Creative Commons license.\n", "readers want.", "Grist", []string{"news"}, ""},
		{"first published", body + "First published at example.org.\n", "readers want.", "example.org", []string{"news"}, ""},
		{"widget heading cuts the tail", body + "You might also like\n\nTen ways to enjoy the summer in town\n\nWhy the bridge is closed again\n", "readers want.", "", []string{"news"}, ""},
		{"widget heading mid-article does not cut", "Short intro line.\n\nRelated\n\n" + body + body, "readers want.", "", []string{"news"}, ""},
		{"trailing menu lines", body + "Politics\nBusiness\nSport\n", "readers want.", "", []string{"news"}, ""},
		{"tags and categories", body + "Filed under: Politics, City Hall\n\nTags: budget; taxes\n", "readers want.", "", []string{"Politics", "City Hall", "budget", "taxes"}, ""},
		{"byline", "By Ana María de la Cruz and Li Wei, Reuters\n\n" + body, "readers want.", "", []string{"news"}, "Ana María de la Cruz and Li Wei"},
		{"author label", "Author: Jo Bloggs\n\n" + body, "readers want.", "", []string{"news"}, "Jo Bloggs"},
		{"copyright names the source", body + "© 2024 Example Media Group. All rights reserved.\n", "readers want.", "Example Media Group", []string{"news"}, ""},
		{"cookie and newsletter prompts", "We use cookies to give you the best experience. Accept all cookies?\n\n" + body + "Subscribe to our newsletter for the latest updates.\n", "readers want.", "", []string{"news"}, ""},
		{"breadcrumb above the title", "", "", "", nil, ""},
	}
	for _, tt := range tests {
		if tt.text == "" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse("a.txt", []byte("A title\n\n"+tt.text), Options{})
			if err != nil {
				t.Fatal(err)
			}
			last := a.Paragraphs[len(a.Paragraphs)-1]
			if !strings.HasSuffix(last, tt.wantLast) {
				t.Errorf("last paragraph %q, want one ending in %q\nall: %q", last, tt.wantLast, a.Paragraphs)
			}
			if a.Source != tt.wantSource {
				t.Errorf("source %q, want %q", a.Source, tt.wantSource)
			}
			if diff := cmp.Diff(tt.wantTopics, a.Topics); diff != "" {
				t.Errorf("topics (-want +got):\n%s", diff)
			}
			if a.Author != tt.wantAuthor {
				t.Errorf("author %q, want %q", a.Author, tt.wantAuthor)
			}
		})
	}
	t.Run("breadcrumb above the title", func(t *testing.T) {
		a, err := Parse("a.txt", []byte("Home | World | Europe\n\nA title\n\n"+body), Options{DefaultTopic: "World"})
		if err != nil {
			t.Fatal(err)
		}
		if a.Title != "A title" || a.Topics[0] != "World" {
			t.Errorf("title %q topics %v", a.Title, a.Topics)
		}
	})
}

func TestSummary(t *testing.T) {
	long := "The U.S. Senate voted on Tuesday to extend the programme by two years, after a debate that lasted most of the day and divided both parties. " +
		"Mr. Smith, who led the opposition, said the cost had not been explained. Supporters said the programme had paid for itself many times over. " +
		"A final vote in the House is expected next week."
	got := summarize([]string{"Photo: Jane Doe", long}, SummaryLimit)
	// Three whole sentences fit in 300 characters; the dots of "U.S." and
	// "Mr." are not sentence ends.
	want := "The U.S. Senate voted on Tuesday to extend the programme by two years, after a debate that lasted most of the day and divided both parties. " +
		"Mr. Smith, who led the opposition, said the cost had not been explained. Supporters said the programme had paid for itself many times over."
	if got != want {
		t.Errorf("summary:\n got %q\nwant %q", got, want)
	}
	oneSentence := strings.Repeat("word ", 100) + "end."
	got = summarize([]string{oneSentence}, SummaryLimit)
	if n := utf8.RuneCountInString(got); n > SummaryLimit || !strings.HasSuffix(got, "…") {
		t.Errorf("cut of one long sentence: %d characters, %q", n, got)
	}
	short := []string{"First short paragraph with enough words in it.", "Second paragraph, also short but with enough words, also complete."}
	if got := summarize(short, SummaryLimit); got != short[0]+" "+short[1] {
		t.Errorf("short paragraphs are joined: %q", got)
	}
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{
		"Xi backs Putin requesting security assurances from the West": "xi-backs-putin-requesting-security-assurances-from-the-west",
		"Straße & Café: Ærø's “best” crêpes!":                         "strasse-and-cafe-aeros-best-crepes",
		"  --Hello,   World--  ":                                      "hello-world",
		"北京":                                                          "",
		strings.Repeat("abcdefghij ", 12):                             "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij",
	} {
		if got := slugify(in); got != want {
			t.Errorf("slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDetectLanguage(t *testing.T) {
	for want, text := range map[string]string{
		"en": "The council said that it would not be able to finish the work on the bridge before the end of the year, and that the costs have risen.",
		"de": "Der Rat sagte, dass er die Arbeiten an der Brücke nicht vor dem Ende des Jahres abschließen werde, und die Kosten sind gestiegen, wie es hieß.",
		"fr": "Le conseil a dit qu'il ne pourra pas terminer les travaux sur le pont avant la fin de l'année, et que les coûts ont augmenté pour la ville.",
		"es": "El consejo dijo que no podrá terminar las obras del puente antes de que acabe el año, y que los costes han subido para la ciudad y los vecinos.",
		"it": "Il consiglio ha detto che non potrà finire i lavori sul ponte prima della fine dell'anno, e che i costi sono aumentati per la città e per i cittadini.",
		"pt": "O conselho disse que não vai conseguir terminar as obras da ponte antes do fim do ano, e que os custos aumentaram para a cidade e para os moradores.",
		"nl": "De raad zei dat het werk aan de brug niet voor het einde van het jaar klaar zal zijn, en dat de kosten voor de stad en de bewoners zijn gestegen.",
		"":   "Short text.",
	} {
		if got := detectLanguage("", []string{text}); got != want {
			t.Errorf("detectLanguage(%.30q…) = %q, want %q", text, got, want)
		}
	}
}

func TestDefaultTopicAndFormats(t *testing.T) {
	text := "Headline\n\nA paragraph that is long enough to be read as a real paragraph of text.\n"
	a, err := Parse("incoming/x.txt", []byte(text), Options{DefaultTopic: "Local"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Local"}, a.Topics); diff != "" {
		t.Errorf("topics (-want +got):\n%s", diff)
	}
	// An HTML page saved as .txt is read as HTML, with a warning.
	page := "<!DOCTYPE html><html><head><title>Page title</title></head><body><article><p>" + strings.Repeat("Some words in a sentence. ", 30) + "</p></article></body></html>"
	a, err = Parse("page.txt", []byte(page), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Title != "Page title" || len(a.Warnings) == 0 || !strings.Contains(a.Warnings[0], "read as HTML") {
		t.Errorf("title %q warnings %q", a.Title, a.Warnings)
	}
	// A JSON object without a .json extension is still JSON.
	a, err = Parse("drop", []byte(`{"title":"From JSON","body":"One paragraph.\n\nAnother paragraph."}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"One paragraph.", "Another paragraph."}, a.Paragraphs); diff != "" || a.Title != "From JSON" {
		t.Errorf("title %q paragraphs (-want +got):\n%s", a.Title, diff)
	}
}

// TestEncodings checks that each supported encoding decodes to the same
// UTF-8 NFC text.
func TestEncodings(t *testing.T) {
	const title = "Café crème à Zürich"
	body := "Ein Bericht über die Straßen von Zürich, wo man überall Café crème trinkt und lange redet."
	text := title + "\n\n" + body + "\n"
	utf16 := func(e xunicode.Endianness, bom xunicode.BOMPolicy) []byte {
		b, err := xunicode.UTF16(e, bom).NewEncoder().Bytes([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	latin1, err := charmap.ISO8859_1.NewEncoder().Bytes([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	page := func(charset string) string {
		return `<html><head><meta charset="` + charset + `"><title>` + title + "</title></head><body><article><p>" + strings.Repeat(body+" ", 6) + "</p></article></body></html>"
	}
	pageLatin1, err := charmap.ISO8859_1.NewEncoder().Bytes([]byte(page("iso-8859-1")))
	if err != nil {
		t.Fatal(err)
	}
	// A decomposed "é" (e + combining acute) must come out composed (NFC).
	decomposed := strings.ReplaceAll(text, "é", "e\u0301")
	for name, data := range map[string][]byte{
		"UTF-8":                  []byte(text),
		"UTF-8 decomposed (NFD)": []byte(decomposed),
		"UTF-8 BOM":              append([]byte("\xEF\xBB\xBF"), text...),
		"UTF-16LE BOM":           utf16(xunicode.LittleEndian, xunicode.UseBOM),
		"UTF-16BE BOM":           utf16(xunicode.BigEndian, xunicode.UseBOM),
		"UTF-16LE no BOM":        utf16(xunicode.LittleEndian, xunicode.IgnoreBOM),
		"ISO-8859-1":             latin1,
		"HTML declaring latin1":  pageLatin1,
		"HTML in UTF-8":          []byte(page("utf-8")),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := Parse("file", data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if a.Title != title {
				t.Errorf("title %q, want %q", a.Title, title)
			}
			if !strings.HasPrefix(a.Paragraphs[0], body) {
				t.Errorf("paragraph %q", a.Paragraphs[0])
			}
		})
	}
}
