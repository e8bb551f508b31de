package article

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gazette-news/gazette/internal/gazette"
)

// FuzzParse checks that Parse never panics, finishes in bounded time (see
// below), and
// either refuses with a *gazette.Error or returns an article with a title
// and nothing but valid UTF-8. The fixtures are the seed corpus.
func FuzzParse(f *testing.F) {
	for _, name := range fixtures(f) {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, data)
	}
	f.Add("a.json", []byte(`{"title":"t","body":["<p onclick=x>hi</p>"]}`))
	f.Add("a.md", []byte("---\ntitle: x\n---\n# y\n\ntext"))
	f.Add("a.txt", []byte("\xFF\xFEt\x00i\x00"))
	// Bounded time (the issue asks for it on any input) is not asserted
	// here: a timed assertion flakes on a loaded machine. While fuzzing, the
	// Go fuzz engine itself fails any input whose call runs past 10 s and
	// keeps it as a crasher; BenchmarkParse1MB and BenchmarkLargeInputs
	// measure the cost.
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		a, err := Parse(name, data, Options{MaxBytes: 1 << 20})
		if err != nil {
			if gazette.KindOf(err) != gazette.KindInvalid || gazette.CodeOf(err) == "" {
				t.Fatalf("error without kind or code: %v", err)
			}
			return
		}
		if strings.TrimSpace(a.Title) == "" {
			t.Fatal("accepted an article without a title")
		}
		if a.ID == "" || a.Slug == "" || len(a.Paragraphs) == 0 {
			t.Fatalf("incomplete article: %+v", a)
		}
		fields := append([]string{a.Title, a.Summary, a.Source, a.Author, a.URL, a.Image, a.Slug, a.Language}, a.Paragraphs...)
		fields = append(append(fields, a.Topics...), a.Warnings...)
		for _, s := range fields {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in output: %q", s)
			}
		}
		if n := utf8.RuneCountInString(a.Summary); n > SummaryLimit {
			t.Fatalf("summary of %d characters", n)
		}
	})
}
