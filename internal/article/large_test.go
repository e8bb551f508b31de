package article

import (
	"strings"
	"testing"
)

// BenchmarkLargeInputs feeds Parse large inputs shaped to hit the costly
// paths (many chrome lines, many paragraphs, deep or wide HTML). The rules
// must stay linear in the size of the file: compare ns/op against
// BenchmarkParse1MB (`make bench`); a quadratic blow-up shows as a ratio far
// above the size ratio. Timing is measured here, never asserted in a test.
func BenchmarkLargeInputs(b *testing.B) {
	cases := map[string]string{
		"widget lines.txt":   "Title\n\n" + strings.Repeat("Related\n\n", 90000),
		"one-word lines.txt": "Title\n\n" + strings.Repeat("a\n", 400000),
		"one paragraph.txt":  "Title\n\n" + strings.Repeat("word ", 200000),
		"sentences.txt":      "Title\n\n" + strings.Repeat("Word. ", 150000),
		"deep.html":          "<html><head><title>x</title></head><body>" + strings.Repeat("<div>", 20000) + "text</body></html>",
		"wide.html":          "<html><head><title>x</title></head><body>" + strings.Repeat("<p>Some text here, with a comma.</p>", 25000) + "</body></html>",
		"links.html":         "<html><head><title>x</title></head><body>" + strings.Repeat("<a href='/x'>link</a> ", 40000) + "</body></html>",
		"nested.md":          "# T\n\n" + strings.Repeat("> ", 10000) + "x\n" + strings.Repeat("*a ", 100000),
		"many.json":          `{"title":"t","body":[` + strings.Repeat(`"a b c d.",`, 80000) + `"x"]}`,
		"latin1.txt":         "Title\n\n" + strings.Repeat("caf\xe9 ", 150000),
	}
	for name, data := range cases {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = Parse(name, []byte(data), Options{})
			}
		})
	}
}
