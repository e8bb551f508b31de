package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gazette-news/gazette/internal/article"
	"github.com/gazette-news/gazette/internal/gazette"
)

func init() {
	commands["ingest"] = command{
		summary: "dry-run the article cleaner on a file: ingest --dry-run [--json] FILE",
		run:     runIngest,
	}
}

// ingestOutput is what `gazette ingest --json` prints: the normalised
// article as an editor sees it, without the fields ingest-article adds
// when it stores the article.
type ingestOutput struct {
	ID             string    `json:"id"`
	Slug           string    `json:"slug"`
	Title          string    `json:"title"`
	Summary        string    `json:"summary"`
	Paragraphs     []string  `json:"paragraphs"`
	Source         string    `json:"source"`
	Author         string    `json:"author"`
	Published      time.Time `json:"published,omitzero"`
	URL            string    `json:"url"`
	Image          string    `json:"image,omitempty"`
	Topics         []string  `json:"topics"`
	Language       string    `json:"language"`
	Words          int       `json:"words"`
	ReadingMinutes int       `json:"readingMinutes"`
	Warnings       []string  `json:"warnings"`
}

// runIngest implements `gazette ingest [--dry-run] [--json] [--topic T] FILE`.
// It parses FILE exactly as the ingest-article function would and prints
// the result: exit 0 for an accepted article, 1 for a refused or
// unreadable file, 2 for a usage error. Only dry runs are supported
// locally: uploading is `aws s3 cp FILE s3://BUCKET/incoming/`.
func runIngest(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "parse and print the article; do not upload (the only mode supported locally)")
	asJSON := fs.Bool("json", false, "print the article as JSON")
	topic := fs.String("topic", "", `topic for articles that name none (default "news")`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gazette ingest --dry-run [--json] [--topic T] FILE  (FILE may be - for standard input)")
		fs.PrintDefaults()
	}
	// Accept flags after the file name too ("ingest story.md --json").
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if !*dryRun {
		fmt.Fprintln(stderr, "gazette ingest: only --dry-run is supported locally; to publish, upload the file with\n  aws s3 cp FILE s3://BUCKET/incoming/")
		return 2
	}

	name := fs.Arg(0)
	var data []byte
	var err error
	if name == "-" {
		name = "stdin"
		data, err = io.ReadAll(io.LimitReader(os.Stdin, article.DefaultMaxBytes+1))
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gazette ingest: %v\n", err)
		return 1
	}
	a, err := article.Parse(name, data, article.Options{DefaultTopic: *topic})
	if err != nil {
		code := gazette.CodeOf(err)
		if code == "" {
			code = "error"
		}
		fmt.Fprintf(stderr, "gazette ingest: %s refused (%s): %v\n", name, code, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(toIngestOutput(a)); err != nil {
			fmt.Fprintf(stderr, "gazette ingest: %v\n", err)
			return 1
		}
		return 0
	}
	printArticle(stdout, a)
	return 0
}

func toIngestOutput(a gazette.Article) ingestOutput {
	warnings := a.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	return ingestOutput{
		ID: a.ID, Slug: a.Slug, Title: a.Title, Summary: a.Summary, Paragraphs: a.Paragraphs,
		Source: a.Source, Author: a.Author, Published: a.Published, URL: a.URL, Image: a.Image,
		Topics: a.Topics, Language: a.Language, Words: a.Words, ReadingMinutes: a.ReadingMinutes(),
		Warnings: warnings,
	}
}

// printArticle prints the article for a person reading a terminal.
func printArticle(w io.Writer, a gazette.Article) {
	fmt.Fprintf(w, "%s\n%s\n\n", a.Title, strings.Repeat("=", min(len([]rune(a.Title)), 72)))
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-10s %s\n", k+":", v)
		}
	}
	field("id", a.ID)
	field("slug", a.Slug)
	field("author", a.Author)
	field("source", a.Source)
	if !a.Published.IsZero() {
		field("published", a.Published.Format(time.RFC3339))
	}
	field("url", a.URL)
	field("image", a.Image)
	field("topics", strings.Join(a.Topics, ", "))
	field("language", a.Language)
	field("length", fmt.Sprintf("%d words, %d min read", a.Words, a.ReadingMinutes()))
	fmt.Fprintf(w, "\nSummary: %s\n\n", a.Summary)
	for _, p := range a.Paragraphs {
		fmt.Fprintf(w, "%s\n\n", p)
	}
	for _, warning := range a.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
}
