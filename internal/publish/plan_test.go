package publish

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
)

// idSubscribers pages confirmed subscribers in ID order with the last ID
// listed as the cursor, as the byStatus index does: a subscriber who joins
// inside a page's ID range moves where that page ends when it is listed
// again.
type idSubscribers struct {
	mu      sync.Mutex
	byID    map[string]gazette.Subscriber
	cursors []string
}

// topicsCycle gives readers every kind of segment of testArticles: everything
// (no topics), one article (business, local) and none (science).
var topicsCycle = [][]string{nil, {"business"}, {"local"}, {"science"}}

func newIDSubscribers(n int) *idSubscribers {
	m := &idSubscribers{byID: map[string]gazette.Subscriber{}}
	for i := range n {
		m.join(fmt.Sprintf("reader%04d@example.com", i), topicsCycle[i%len(topicsCycle)])
	}
	return m
}

func (m *idSubscribers) join(email string, topics []string) gazette.Subscriber {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := gazette.Subscriber{ID: gazette.SubscriberID(email), Email: email, Name: "Reader " + email[:strings.IndexByte(email, '@')],
		Topics: topics, Status: gazette.SubscriberConfirmed}
	m.byID[s.ID] = s
	return s
}

func (m *idSubscribers) leave(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byID, id)
}

// sortedIDs lists the confirmed subscribers' IDs in index order.
func (m *idSubscribers) sortedIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.byID))
	for id := range m.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (m *idSubscribers) ListConfirmed(_ context.Context, cursor string, limit int) ([]gazette.Subscriber, string, error) {
	ids := m.sortedIDs()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cursors = append(m.cursors, cursor)
	start, _ := slices.BinarySearch(ids, cursor)
	if start < len(ids) && ids[start] == cursor {
		start++ // the cursor is the last ID listed: exclusive
	}
	end := min(start+limit, len(ids))
	var page []gazette.Subscriber
	for _, id := range ids[start:end] {
		page = append(page, m.byID[id])
	}
	next := ""
	if end < len(ids) {
		next = ids[end-1]
	}
	return page, next, nil
}

// batchesOf maps each recipient to the batch numbers it was enqueued under.
func batchesOf(bs []gazette.SendBatch) map[string][]int {
	of := map[string][]int{}
	for _, b := range bs {
		for _, r := range b.Recipients {
			if !slices.Contains(of[r.SubscriberID], b.Batch) {
				of[r.SubscriberID] = append(of[r.SubscriberID], b.Batch)
			}
		}
	}
	return of
}

// pageOf returns the batches numbered first+1 … last, in queue order.
func pageOf(bs []gazette.SendBatch, first, last int) []gazette.SendBatch {
	var out []gazette.SendBatch
	for _, b := range bs {
		if b.Batch > first && b.Batch <= last {
			out = append(out, b)
		}
	}
	return out
}

// TestPublishDigestResumeReusesPlan crashes a run after it enqueued a page
// and before it saved the issue's progress, changes that page's subscribers
// (one joins inside its ID range, one leaves), and resumes: the resumed run
// must enqueue the page's batches exactly as the crashed run did, and no
// recipient may appear under two batch numbers across both runs.
func TestPublishDigestResumeReusesPlan(t *testing.T) {
	const total = 1200 // pages of 500, 500, 200
	tests := []struct {
		name string
		page int // the page (1-based) whose progress save crashes
	}{
		{name: "crash after enqueueing the first page", page: 1},
		{name: "crash after enqueueing a middle page", page: 2},
		{name: "crash after enqueueing the last page", page: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(0)
			subs := newIDSubscribers(total)
			svc := f.service()
			svc.Subscribers = subs
			// Save 1 records the render; save 1+k the progress of page k.
			f.issues.failSave = 1 + tt.page

			if _, err := svc.PublishDigest(context.Background()); err == nil || !strings.Contains(err.Error(), "crashed before saving") {
				t.Fatalf("first run error = %v, want the crash", err)
			}
			first := slices.Clone(f.queue.batches)
			st := f.issues.get(t, 1)
			if st.Status != gazette.IssueRendered {
				t.Fatalf("issue status after the crash = %s, want rendered", st.Status)
			}
			crashed := pageOf(first, st.Batches, len(first)+st.Batches)
			if len(crashed) == 0 {
				t.Fatal("the crashed page enqueued no batches")
			}
			putsBefore := slices.Clone(f.templates.puts)

			// The crashed page's ID range: after the saved cursor, up to
			// its last listed subscriber (inclusive).
			ids := subs.sortedIDs()
			lo, hi := (tt.page-1)*pageSize, min(tt.page*pageSize, total)-1
			var joiner gazette.Subscriber
			for i := 0; ; i++ {
				email := fmt.Sprintf("joiner%d@example.com", i)
				if id := gazette.SubscriberID(email); id > ids[lo] && id < ids[hi] {
					joiner = subs.join(email, nil)
					break
				}
			}
			// The leaver is one the crashed page reached (a matching topic).
			leaver := ids[lo+7]
			for i := lo + 7; slices.Equal(subs.byID[leaver].Topics, []string{"science"}); i++ {
				leaver = ids[i+1]
			}
			subs.leave(leaver)
			subs.cursors = nil

			got, err := svc.PublishDigest(context.Background())
			if err != nil {
				t.Fatalf("resumed run error = %v", err)
			}
			second := f.queue.batches[len(first):]

			// The crashed page went out again exactly as before.
			if diff := cmp.Diff(crashed, pageOf(second, st.Batches, st.Batches+len(crashed))); diff != "" {
				t.Errorf("resumed page's batches differ from the crashed run's (-crashed +resumed):\n%s", diff)
			}
			if slices.Contains(subs.cursors, st.Cursor) {
				t.Errorf("resumed run listed the planned page again (cursors %q)", subs.cursors)
			}
			// Across both runs nobody is under two batch numbers, and batch
			// numbers name one set of recipients each.
			for id, nums := range batchesOf(f.queue.batches) {
				if len(nums) > 1 {
					t.Errorf("recipient %s is in batches %v", id, nums)
				}
			}
			byNumber := map[int]gazette.SendBatch{}
			for _, b := range f.queue.batches {
				if prev, ok := byNumber[b.Batch]; ok && !cmp.Equal(prev, b) {
					t.Errorf("batch %d was enqueued with two different contents", b.Batch)
				}
				byNumber[b.Batch] = b
			}
			// The page was fixed by its plan: the joiner waits for the next
			// issue, the leaver was planned before leaving and stays in.
			reached := batchesOf(f.queue.batches)
			if _, ok := reached[joiner.ID]; ok {
				t.Errorf("joiner %s was enqueued into a page planned before they joined", joiner.ID)
			}
			if _, ok := reached[leaver]; !ok {
				t.Errorf("leaver %s is missing from the page planned before they left", leaver)
			}
			// Everyone else with a matching topic is reached.
			var wantReached int
			for _, id := range subs.sortedIDs() {
				if id == joiner.ID {
					continue
				}
				if s := subs.byID[id]; !slices.Equal(s.Topics, []string{"science"}) {
					wantReached++
					if _, ok := reached[id]; !ok {
						t.Errorf("subscriber %s never enqueued", id)
					}
				}
			}
			if len(reached) != wantReached+1 { // + the leaver
				t.Errorf("%d recipients reached, want %d", len(reached), wantReached+1)
			}
			if diff := cmp.Diff(seq(1, got.Batches), batchNumbers(slices.Concat(pageOf(first, 0, st.Batches), second))); diff != "" {
				t.Errorf("batch numbers of the issue (-want +got):\n%s", diff)
			}
			end := f.issues.get(t, 1)
			if end.Status != gazette.IssueEnqueued || end.Recipients != len(reached) || end.Recipients+end.Unmatched != total {
				t.Errorf("final state: status %s, recipients %d, unmatched %d; want enqueued, %d, %d in all",
					end.Status, end.Recipients, end.Unmatched, len(reached), total)
			}
			// Every template a batch names exists, and the resumed run
			// rendered none: the plan's run stored them before saving it.
			for _, b := range f.queue.batches {
				if _, ok := f.templates.byName[b.Template]; !ok {
					t.Errorf("batch %d names template %q, which was never stored", b.Batch, b.Template)
				}
			}
			if diff := cmp.Diff(putsBefore, f.templates.puts); diff != "" {
				t.Errorf("resumed run stored templates (-before +after):\n%s", diff)
			}
		})
	}
}

// TestPublishDigestPlans covers the plan store's answers: a plan that does
// not start where the issue stands is ignored, a matching one is enqueued
// without listing, failures stop the page before anything is enqueued, and
// a plan another run saved first wins.
func TestPublishDigestPlans(t *testing.T) {
	ghost := []gazette.SendBatch{{Issue: 1, Batch: 1, Segment: AllTopics, Template: "gazette-issue-1",
		Recipients: []gazette.Recipient{{SubscriberID: "ghost", Email: "ghost@example.com"}}}}
	saveErr := gazette.Errorf(gazette.KindThrottled, "dynamodb", "plan table throttled")
	// Issue 1 rendered, its first page of 50 enqueued and saved: the next
	// page starts at cursor "50" with one batch so far.
	resumed := gazette.IssueState{
		Number: 1, Status: gazette.IssueRendered, ArticleIDs: []string{"a1", "a2", "a3"}, Subject: "Gazette #1",
		Template: "gazette-issue-1", Cursor: "50", Batches: 1, Recipients: 50, CreatedAt: testNow,
	}
	tests := []struct {
		name    string
		setup   func(f *fixture)
		wantErr string // "" for success
		check   func(t *testing.T, f *fixture)
	}{
		{
			name: "plan of an earlier page is ignored",
			setup: func(f *fixture) {
				f.plans.put(1, gazette.SendPlan{Cursor: "", FirstBatch: 0, Listed: 0, Next: "50", Recipients: 1, Batches: ghost})
			},
			check: func(t *testing.T, f *fixture) {
				if diff := cmp.Diff([]string{"50"}, f.subs.cursors); diff != "" {
					t.Errorf("subscriber cursors (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(f.allSubscriberIDs()[50:], f.recipientIDs()); diff != "" {
					t.Errorf("recipients (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]int{2, 3}, batchNumbers(f.queue.batches)); diff != "" {
					t.Errorf("batch numbers (-want +got):\n%s", diff)
				}
				if len(f.plans.saves) != 1 || f.plans.saves[0].Cursor != "50" || f.plans.saves[0].FirstBatch != 1 || f.plans.saves[0].Listed != 50 {
					t.Errorf("plans saved = %+v, want the page at cursor 50 after batch 1 and 50 listed", f.plans.saves)
				}
			},
		},
		{
			name: "plan at the same cursor after another batch count is ignored",
			setup: func(f *fixture) {
				f.plans.put(1, gazette.SendPlan{Cursor: "50", FirstBatch: 0, Listed: 0, Batches: ghost})
			},
			check: func(t *testing.T, f *fixture) {
				if diff := cmp.Diff([]int{2, 3}, batchNumbers(f.queue.batches)); diff != "" {
					t.Errorf("batch numbers (-want +got):\n%s", diff)
				}
				if slices.Contains(f.recipientIDs(), "ghost") {
					t.Error("the stale plan's recipient was enqueued")
				}
			},
		},
		{
			name: "plan of this page is enqueued as saved, without listing",
			setup: func(f *fixture) {
				bs := []gazette.SendBatch{
					{Issue: 1, Batch: 2, Segment: AllTopics, Template: "gazette-issue-1", Recipients: []gazette.Recipient{{SubscriberID: "p1", Email: "p1@example.com"}}},
					{Issue: 1, Batch: 3, Segment: "tabc", Template: "gazette-issue-1-tabc", Recipients: []gazette.Recipient{{SubscriberID: "p2", Email: "p2@example.com"}}},
				}
				f.plans.put(1, gazette.SendPlan{Cursor: "50", FirstBatch: 1, Listed: 50, Next: "", Recipients: 2, Unmatched: 5, Batches: bs})
			},
			check: func(t *testing.T, f *fixture) {
				if len(f.subs.cursors) != 0 {
					t.Errorf("listed subscribers at %q, want the plan used as is", f.subs.cursors)
				}
				if diff := cmp.Diff([]string{"p1", "p2"}, f.recipientIDs()); diff != "" {
					t.Errorf("recipients (-want +got):\n%s", diff)
				}
				if len(f.plans.saves) != 0 || len(f.templates.puts) != 0 {
					t.Errorf("saved plans %d, stored templates %v; want neither", len(f.plans.saves), f.templates.puts)
				}
				st := f.issues.get(t, 1)
				if st.Status != gazette.IssueEnqueued || st.Batches != 3 || st.Recipients != 52 || st.Unmatched != 5 || st.Cursor != "" {
					t.Errorf("issue state = %+v, want enqueued with the plan's counts", st)
				}
			},
		},
		{
			name:    "SavePlan error stops the page before it is enqueued",
			setup:   func(f *fixture) { f.plans.saveErr = saveErr },
			wantErr: "publish issue 1: plan: ",
			check: func(t *testing.T, f *fixture) {
				if f.queue.calls != 0 {
					t.Errorf("queue called %d times, want none", f.queue.calls)
				}
				if st := f.issues.get(t, 1); !cmp.Equal(st, resumed) {
					t.Errorf("issue state moved (-want +got):\n%s", cmp.Diff(resumed, st))
				}
			},
		},
		{
			name:    "LoadPlan error stops before listing",
			setup:   func(f *fixture) { f.plans.loadErr = saveErr },
			wantErr: "publish issue 1: plan: ",
			check: func(t *testing.T, f *fixture) {
				if f.queue.calls != 0 || len(f.subs.cursors) != 0 {
					t.Errorf("queue calls %d, listings %q; want none", f.queue.calls, f.subs.cursors)
				}
			},
		},
		{
			name: "plan another run saved first for this page is enqueued instead",
			setup: func(f *fixture) {
				f.plans.beforeSave = func(issue int) {
					f.plans.mu.Lock()
					defer f.plans.mu.Unlock()
					if _, ok := f.plans.decode(issue); !ok {
						other := slices.Clone(ghost)
						other[0].Batch = 2
						f.plans.put(issue, gazette.SendPlan{Cursor: "50", FirstBatch: 1, Listed: 50, Next: "", Recipients: 1, Batches: other})
					}
				}
			},
			check: func(t *testing.T, f *fixture) {
				if diff := cmp.Diff([]string{"ghost"}, f.recipientIDs()); diff != "" {
					t.Errorf("recipients (-want +got): want the other run's plan\n%s", diff)
				}
				if diff := cmp.Diff([]int{2}, batchNumbers(f.queue.batches)); diff != "" {
					t.Errorf("batch numbers (-want +got):\n%s", diff)
				}
				if st := f.issues.get(t, 1); st.Status != gazette.IssueEnqueued || st.Batches != 2 || st.Recipients != 51 {
					t.Errorf("issue state = %+v, want the other plan's counts", st)
				}
			},
		},
		{
			name: "run behind another that planned a later page stops before enqueueing",
			setup: func(f *fixture) {
				f.plans.beforeSave = func(issue int) {
					f.plans.mu.Lock()
					defer f.plans.mu.Unlock()
					f.plans.put(issue, gazette.SendPlan{Cursor: "110", FirstBatch: 4, Listed: 110, Batches: ghost})
				}
			},
			wantErr: "publish issue 1: plan: ",
			check: func(t *testing.T, f *fixture) {
				if f.queue.calls != 0 {
					t.Errorf("queue called %d times, want none", f.queue.calls)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(120)
			f.issues = newIssues(resumed)
			tt.setup(f)
			_, err := f.service().PublishDigest(context.Background())
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("PublishDigest() error = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Fatalf("PublishDigest() error = %v, want one starting %q", err, tt.wantErr)
			case errors.Is(f.plans.saveErr, saveErr) || errors.Is(f.plans.loadErr, saveErr):
				// The store's error is wrapped, not replaced: its kind
				// decides whether the invocation is retried.
				if !errors.Is(err, saveErr) || gazette.KindOf(err) != gazette.KindThrottled {
					t.Errorf("error %v does not wrap the store's (kind %v)", err, gazette.KindOf(err))
				}
			}
			tt.check(t, f)
		})
	}
}
