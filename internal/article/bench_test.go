package article

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkParse1MB measures the ingestion of a ~1 MB article in the plain
// text and HTML formats (the HTML one goes through readability and the
// sanitiser).
func BenchmarkParse1MB(b *testing.B) {
	seed, err := os.ReadFile(filepath.Join("testdata", "seed_financebrokerage.txt"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(string(seed), "\n")
	title, body := lines[0], strings.Join(lines[2:], "\n")
	body = body[:strings.Index(body, "The post ")]
	var text, page strings.Builder
	text.WriteString(title + "\n\n")
	page.WriteString("<!doctype html><html><head><title>" + title + "</title></head><body><nav><a href=/>Home</a></nav><article><h1>" + title + "</h1>")
	for text.Len() < 1<<20 {
		text.WriteString(body)
		for _, p := range strings.Split(strings.TrimSpace(body), "\n\n") {
			page.WriteString("<p>" + p + "</p>\n")
		}
	}
	page.WriteString("</article><footer>© 2024</footer></body></html>")
	for _, tc := range []struct{ name, file, data string }{
		{"text", "big.txt", text.String()},
		{"html", "big.html", page.String()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			data := []byte(tc.data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(tc.file, data, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
