package publish

import (
	"crypto/sha256"
	"encoding/binary"
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
//
// A segments is used by one run at a time, from one goroutine: of fills
// its caches without locking.
type segments struct {
	issue     gazette.Issue
	templates map[string]string // segment key → SES template name

	// topics holds each article's topics, lower-cased and trimmed, in
	// issue order; filled by the first of.
	topics [][]string
	// memo holds of's answer per topic set (see topicSetKey).
	memo map[string]segment
}

// segment is one answer of segments.of.
type segment struct {
	key      string
	articles []gazette.Article
}

// of returns the segment key and articles for a reader with these topics;
// "" when no article matches. Topics are compared lower-cased and trimmed,
// as a set: readers with the same set get the same answer, worked out once.
func (s *segments) of(topics []string) (string, []gazette.Article) {
	if len(topics) == 0 {
		return AllTopics, s.issue.Articles
	}
	set := make([]string, len(topics))
	for i, t := range topics {
		set[i] = normTopic(t)
	}
	slices.Sort(set)
	set = slices.Compact(set)
	k := topicSetKey(set)
	if m, ok := s.memo[string(k)]; ok {
		return m.key, m.articles
	}
	m := s.match(set)
	if s.memo == nil {
		s.memo = map[string]segment{}
	}
	s.memo[string(k)] = m
	return m.key, m.articles
}

// match works out of's answer for set, a sorted topic set.
func (s *segments) match(set []string) segment {
	if s.topics == nil {
		s.topics = make([][]string, len(s.issue.Articles))
		for i, a := range s.issue.Articles {
			for _, t := range a.Topics {
				s.topics[i] = append(s.topics[i], normTopic(t))
			}
		}
	}
	var picked []gazette.Article
	var ids []string
	for i, a := range s.issue.Articles {
		if slices.ContainsFunc(s.topics[i], func(t string) bool {
			_, ok := slices.BinarySearch(set, t)
			return ok
		}) {
			picked = append(picked, a)
			ids = append(ids, a.ID)
		}
	}
	switch len(picked) {
	case 0:
		return segment{}
	case len(s.issue.Articles):
		return segment{AllTopics, s.issue.Articles}
	}
	// The key names the article set through a short hash: SES template
	// names allow only letters, digits, "-" and "_", up to 64 characters.
	sum := sha256.Sum256([]byte(strings.Join(ids, "\x00")))
	return segment{"t" + hex.EncodeToString(sum[:5]), picked}
}

// normTopic is a topic as segments compares it.
func normTopic(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// topicSetKey encodes a topic set as a memo key: each topic behind its
// length, so that no two sets share a key whatever bytes topics hold.
func topicSetKey(set []string) []byte {
	var k []byte
	for _, t := range set {
		k = binary.AppendUvarint(k, uint64(len(t)))
		k = append(k, t...)
	}
	return k
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
