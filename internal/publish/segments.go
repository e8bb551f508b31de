package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/gazette-news/gazette/internal/gazette"
)

// AllTopics is the segment of readers who get every article of the issue:
// those who chose no topics (the default: everything) and those whose
// topics cover all of the issue's.
const AllTopics = "all"

// segments splits an issue's readers by the articles they get. A reader
// gets the articles that carry at least one of their topics; readers who
// get the same articles share one segment and so one SES template.
// Rendering per segment, not per reader, keeps the "render once" cost at a
// handful of renders per issue.
type segments struct {
	issue     gazette.Issue
	templates map[string]string // segment key → SES template name
}

// of returns the segment key and articles for a reader with these topics;
// "" when no article matches.
func (s *segments) of(topics []string) (string, []gazette.Article) {
	if len(topics) == 0 {
		return AllTopics, s.issue.Articles
	}
	want := map[string]bool{}
	for _, t := range topics {
		want[strings.ToLower(strings.TrimSpace(t))] = true
	}
	var picked []gazette.Article
	var ids []string
	for _, a := range s.issue.Articles {
		if slices.ContainsFunc(a.Topics, func(t string) bool { return want[strings.ToLower(strings.TrimSpace(t))] }) {
			picked = append(picked, a)
			ids = append(ids, a.ID)
		}
	}
	switch len(picked) {
	case 0:
		return "", nil
	case len(s.issue.Articles):
		return AllTopics, s.issue.Articles
	}
	// The key names the article set through a short hash: SES template
	// names allow only letters, digits, "-" and "_", up to 64 characters.
	sum := sha256.Sum256([]byte(strings.Join(ids, "\x00")))
	return "t" + hex.EncodeToString(sum[:5]), picked
}

// remember records the SES templates that a saved plan's batches name, so
// that a reused page renders nothing and a later page of the same segment
// uses the same name. They exist already: the run that made the plan
// stored them before saving it (Service.plan), and templates are never
// deleted.
func (s *segments) remember(batches []gazette.SendBatch) {
	for _, b := range batches {
		if _, ok := s.templates[b.Segment]; !ok {
			s.templates[b.Segment] = b.Template
		}
	}
}
