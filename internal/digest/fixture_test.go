package digest

import (
	"fmt"
	"strings"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

// fixedDate keeps golden files stable.
var fixedDate = time.Date(2026, time.March, 5, 7, 0, 0, 0, time.UTC)

var testBrand = Brand{
	Name:          "Gazette",
	Link:          "https://gazette.example",
	PostalAddress: "Gazette News Ltd, 1 Example Street, Springfield 12345",
	Why:           "You receive this because you subscribed at gazette.example.",
}

var testLinks = Links{ArchiveBase: "https://gazette.example/archive", Subscribe: "https://gazette.example/subscribe"}

// testIssue is a small, varied issue: several topics, an article without a
// URL of its own, one in Hebrew, and content that looks like a placeholder.
func testIssue() gazette.Issue {
	return gazette.Issue{
		Number: 12,
		Date:   fixedDate,
		Articles: []gazette.Article{
			{
				ID: "a1", Slug: "xi-backs-putin", Title: "Xi backs Putin requesting security assurances from the West",
				Summary:    "The presidents of China and Russia held their second video call this year to address concerns about the Russia-Ukraine border.",
				Paragraphs: []string{"This year, the presidents of China and Russia held their second video call on Wednesday.", "According to Reuters, a Kremlin official said that Xi supports Putin."},
				Source:     "Reuters", URL: "https://news.example/world/xi-putin?ref=rss&utm=1", Topics: []string{"World"}, Language: "en", Words: 600,
			},
			{
				ID: "a2", Slug: "rates-on-hold", Title: "Central bank holds rates, signals patience",
				Summary: "Policy makers kept the benchmark rate unchanged for a third meeting.", Paragraphs: []string{"Policy makers kept the benchmark rate unchanged."},
				Source: "Gazette Desk", Topics: []string{"Business"}, Language: "en", Words: 250,
			},
			{
				ID: "a3", Slug: "ceasefire-talks", Title: "Ceasefire talks resume in Cairo",
				Summary: "Negotiators returned to the table after a two-week pause.", Paragraphs: []string{"Negotiators returned."},
				Author: "Jane Doe", URL: "https://www.example.org/ceasefire", Topics: []string{"World", "Middle East"}, Language: "en", Words: 900,
			},
			{
				ID: "a4", Slug: "tel-aviv-tech", Title: "הייטק בתל אביב מתאושש",
				Summary: "חברות הזנק גייסו יותר הון ברבעון האחרון.", Paragraphs: []string{"חברות הזנק גייסו יותר הון ברבעון האחרון."},
				Source: "Haaretz", Topics: []string{"Business"}, Language: "he", Words: 300,
			},
			{
				ID: "a5", Slug: "template-injection", Title: "Why {{braces}} break templates",
				Summary: "A short note on {{unsubscribeUrl}} & other {{curly}} things.", Paragraphs: []string{"Escaping matters."},
				Source: "Dev Notes", Topics: nil, Words: 120,
			},
		},
	}
}

// longIssue has n articles with long summaries, to exercise the size guard.
func longIssue(n int) gazette.Issue {
	is := gazette.Issue{Number: 99, Date: fixedDate}
	for i := range n {
		is.Articles = append(is.Articles, gazette.Article{
			ID: fmt.Sprintf("id%d", i), Slug: fmt.Sprintf("article-%d", i),
			Title:   fmt.Sprintf("Article number %d with a reasonably long headline about things", i),
			Summary: strings.Repeat("A long summary sentence that goes on and on. ", 20),
			Source:  "Wire", URL: fmt.Sprintf("https://news.example/articles/%d?utm_source=gazette", i),
			Topics: []string{[]string{"World", "Business", "Science", "Sport"}[i%4]}, Words: 800,
		})
	}
	return is
}
