package publish

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
)

func TestSegmentsOf(t *testing.T) {
	issue := gazette.Issue{Articles: []gazette.Article{
		{ID: "a", Topics: []string{"News"}},
		{ID: "b", Topics: []string{"business", "technology"}},
		{ID: "c", Topics: []string{"sport"}},
	}}
	s := &segments{issue: issue}
	ids := func(as []gazette.Article) (out []string) {
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	tests := []struct {
		name    string
		topics  []string
		wantAll bool
		wantIDs []string
	}{
		{"no topics chosen gets everything", nil, true, []string{"a", "b", "c"}},
		{"topics covering every article", []string{"news", "business", "sport"}, true, []string{"a", "b", "c"}},
		{"one topic, case-insensitive", []string{"NEWS"}, false, []string{"a"}},
		{"either topic of an article", []string{"technology"}, false, []string{"b"}},
		{"nothing on their topics", []string{"science"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, got := s.of(tt.topics)
			if (key == AllTopics) != tt.wantAll {
				t.Errorf("of(%v) key = %q, want all=%v", tt.topics, key, tt.wantAll)
			}
			if tt.wantIDs == nil && key != "" {
				t.Errorf("of(%v) key = %q, want none", tt.topics, key)
			}
			if diff := cmp.Diff(tt.wantIDs, ids(got)); diff != "" {
				t.Errorf("of(%v) articles (-want +got):\n%s", tt.topics, diff)
			}
		})
	}
	// Readers who get the same articles share a segment; others do not.
	k1, _ := s.of([]string{"business"})
	k2, _ := s.of([]string{"technology"})
	k3, _ := s.of([]string{"sport"})
	if k1 != k2 || k1 == k3 {
		t.Errorf("segment keys: business %q, technology %q, sport %q; want the first two equal and the third different", k1, k2, k3)
	}
}

// TestPublishDigestSegments publishes an issue to readers with and without
// topics: everyone gets a batch with the template of exactly their
// articles, readers with no matching article get nothing, and the counts
// add up.
func TestPublishDigestSegments(t *testing.T) {
	f := newFixture(0)
	topics := [][]string{nil, {"sport"}, {"Business", "local"}, {"business", "local", "sport"}, {"science"}, {"SPORT"}}
	for i, tp := range topics {
		email := fmt.Sprintf("seg%d@example.com", i)
		f.subs.subs = append(f.subs.subs, gazette.Subscriber{ID: gazette.SubscriberID(email), Email: email, Topics: tp, Status: gazette.SubscriberConfirmed})
	}
	res, err := f.service().PublishDigest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Recipients != 5 {
		t.Errorf("recipients = %d, want 5 (one reader has no matching topic)", res.Recipients)
	}
	if st := f.issues.get(t, 1); st.Unmatched != 1 || st.Recipients != 5 {
		t.Errorf("state = %d recipients, %d unmatched; want 5 and 1", st.Recipients, st.Unmatched)
	}
	got := map[string]string{} // email → template
	for _, b := range f.queue.batches {
		for _, r := range b.Recipients {
			got[r.Email] = b.Template
		}
		if b.Segment == AllTopics && b.Template != "gazette-issue-1" {
			t.Errorf("segment all uses template %q", b.Template)
		}
	}
	if got["seg0@example.com"] != "gazette-issue-1" || got["seg3@example.com"] != "gazette-issue-1" {
		t.Errorf("readers of every topic got %q and %q, want the whole issue's template", got["seg0@example.com"], got["seg3@example.com"])
	}
	if _, ok := got["seg4@example.com"]; ok {
		t.Error("a reader with no matching topic was enqueued")
	}
	sport := got["seg1@example.com"]
	if sport == "" || sport == "gazette-issue-1" || got["seg5@example.com"] != sport {
		t.Errorf("sport readers got %q and %q, want one shared segment template", sport, got["seg5@example.com"])
	}
	email := f.templates.byName[sport]
	if !strings.Contains(email.HTML, "Chess final goes to tie-break") || strings.Contains(email.HTML, "Central bank holds rates") {
		t.Error("the sport segment's template does not hold exactly the sport article")
	}
	if got["seg2@example.com"] == sport || got["seg2@example.com"] == "gazette-issue-1" {
		t.Errorf("business+local reader got %q, want their own segment", got["seg2@example.com"])
	}
}
