// Package publish turns the pending articles into issue N: it numbers the
// issue, claims its articles, renders it once into an SES template and the
// web archive, and enqueues send batches of confirmed subscribers. Every step
// is recorded in the issue's state, so a crashed or re-invoked run resumes
// the unfinished issue instead of starting another or enqueueing twice.
//
// Every recipient is in exactly one batch number of an issue, which is what
// lets the delivery ledger keep one record per batch instead of one per
// recipient: subscribers are paged in ID order, so pages are disjoint ID
// ranges, and a page's batches are fixed by its write-ahead plan (Plans)
// before any of them is enqueued. A run resumed after a crash between
// enqueueing a page and saving the issue's progress enqueues that page's
// planned batches again, unchanged, even if subscribers joined or left in
// between; two runs racing on one page enqueue the plan saved first.
package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/gazette-news/gazette/internal/digest"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/mergetag"
)

// Articles is the store of articles.
type Articles interface {
	PendingIDs(ctx context.Context) ([]string, error)
	// Claim moves a pending article into the issue; claiming it again for
	// the same issue succeeds; an article another issue took is KindConflict.
	Claim(ctx context.Context, id string, issue int) (gazette.Article, error)
}

// Issues is the store of issue states.
type Issues interface {
	Latest(ctx context.Context) (gazette.IssueState, bool, error)
	Create(ctx context.Context, st gazette.IssueState) error
	Get(ctx context.Context, n int) (gazette.IssueState, error)
	Save(ctx context.Context, st gazette.IssueState, prevCursor string, prevBatches int) error
}

// Subscribers pages through confirmed subscribers.
type Subscribers interface {
	ListConfirmed(ctx context.Context, cursor string, limit int) ([]gazette.Subscriber, string, error)
}

// Templates stores the rendered issue as an SES template.
type Templates interface {
	PutTemplate(ctx context.Context, name string, e mergetag.Email) error
}

// Objects is the bucket the web archive lives in.
type Objects interface {
	Get(ctx context.Context, key string, limit int64) ([]byte, error)
	Put(ctx context.Context, key, contentType string, body []byte) error
}

// Queue takes send batches.
type Queue interface {
	SendJSON(ctx context.Context, values []any) error
}

// Plans keeps the write-ahead plan of the page being enqueued: one plan per
// issue, the latest page's, saved before any of the page's batches goes to
// the queue. It is what makes a resumed run enqueue a page exactly as the
// crashed run did, rather than re-list a page whose subscribers may have
// changed and re-form it into different batches under the same numbers.
type Plans interface {
	// SavePlan stores p as the issue's plan, replacing the plan of an
	// earlier page. If the plan stored is of the same page (same Cursor and
	// FirstBatch) or of a later one (greater Listed), it keeps that one and
	// returns a gazette.KindConflict error: another run planned the page
	// first, and its batches may be on the queue already, or moved past it.
	SavePlan(ctx context.Context, issue int, p gazette.SendPlan) error
	// LoadPlan returns the issue's plan; ok is false when none was saved.
	LoadPlan(ctx context.Context, issue int) (p gazette.SendPlan, ok bool, err error)
}

// planMatches says whether p is the plan of the page that starts at st's
// progress. Cursor and batch count together name one page of one issue: the
// cursor only moves forward, and a plan of an earlier page (left by the last
// page saved) starts at another cursor.
func planMatches(p gazette.SendPlan, st gazette.IssueState) bool {
	return p.Cursor == st.Cursor && p.FirstBatch == st.Batches
}

// pageSize is how many subscribers one progress step covers: ten batches of
// fifty, one SQS call per ten messages, one issue-state write per page.
const pageSize = 10 * gazette.MaxBatchRecipients

// Service publishes digests.
type Service struct {
	Articles       Articles
	Issues         Issues
	Subscribers    Subscribers
	Templates      Templates
	Archive        Objects
	Brand          digest.Brand
	Links          digest.Links
	Render         digest.Options
	Queue          Queue
	Plans          Plans
	TemplatePrefix string // SES template name = prefix + issue number
	Now            func() time.Time
	Log            *slog.Logger
}

// Result says what one run did.
type Result struct {
	Issue    int    `json:"issue"`
	Subject  string `json:"subject,omitempty"`
	Articles int    `json:"articles"`
	// Titles are the titles of the issue's articles, in issue order.
	Titles     []string `json:"titles,omitempty"`
	Batches    int      `json:"batches"`
	Recipients int      `json:"recipients"`
	Resumed    bool     `json:"resumed,omitempty"`
	// Skipped is set when there was nothing to publish.
	Skipped bool `json:"skipped,omitempty"`
}

// PublishDigest publishes the next issue, or finishes the last one if a
// previous run stopped part-way.
func (s *Service) PublishDigest(ctx context.Context) (Result, error) {
	st, resumed, err := s.begin(ctx)
	if err != nil {
		return Result{}, err
	}
	if st.Number == 0 {
		return Result{Skipped: true}, nil
	}
	if resumed {
		s.Log.InfoContext(ctx, "issue resumed", "issue", st.Number, "status", st.Status, "batches", st.Batches)
	}

	issue, err := s.claim(ctx, st)
	if err != nil {
		return Result{}, err
	}
	if len(issue.Articles) == 0 && st.Status == gazette.IssueCreated {
		// Every listed article went to another issue between listing and
		// claiming (the status index is eventually consistent). Close the
		// number empty rather than leave an issue no run can render.
		closed := st
		closed.Status, closed.EnqueuedAt = gazette.IssueEnqueued, s.Now().UTC()
		if err := s.Issues.Save(ctx, closed, st.Cursor, st.Batches); err != nil {
			return Result{}, fmt.Errorf("publish issue %d: %w", st.Number, err)
		}
		s.Log.WarnContext(ctx, "issue closed empty: its articles went to another issue", "issue", st.Number)
		return Result{Issue: st.Number, Skipped: true}, nil
	}
	if st.Status == gazette.IssueCreated {
		if st, err = s.render(ctx, st, issue); err != nil {
			return Result{}, err
		}
	}
	if st.Status == gazette.IssueRendered {
		if st, err = s.enqueue(ctx, st, issue); err != nil {
			return Result{}, err
		}
	}
	res := Result{
		Issue: st.Number, Subject: st.Subject, Articles: len(issue.Articles),
		Batches: st.Batches, Recipients: st.Recipients, Resumed: resumed,
	}
	for _, a := range issue.Articles {
		res.Titles = append(res.Titles, a.Title)
	}
	return res, nil
}

// begin returns the issue to work on: the unfinished latest one, or a new
// one with every pending article. A zero state means nothing to publish.
func (s *Service) begin(ctx context.Context) (gazette.IssueState, bool, error) {
	last, ok, err := s.Issues.Latest(ctx)
	if err != nil {
		return last, false, fmt.Errorf("publish: %w", err)
	}
	if ok && last.Status != gazette.IssueEnqueued {
		return last, true, nil
	}
	ids, err := s.Articles.PendingIDs(ctx)
	if err != nil {
		return gazette.IssueState{}, false, fmt.Errorf("publish: %w", err)
	}
	if len(ids) == 0 {
		s.Log.InfoContext(ctx, "no pending articles; no issue published")
		return gazette.IssueState{}, false, nil
	}
	for n := last.Number + 1; ; n++ {
		st := gazette.IssueState{
			Number: n, Status: gazette.IssueCreated, ArticleIDs: ids,
			Template: fmt.Sprintf("%s%d", s.TemplatePrefix, n), CreatedAt: s.Now().UTC(),
		}
		err = s.Issues.Create(ctx, st)
		if err == nil {
			s.Log.InfoContext(ctx, "issue created", "issue", n, "articles", len(ids))
			return st, false, nil
		}
		if gazette.KindOf(err) != gazette.KindConflict {
			return st, false, fmt.Errorf("publish: %w", err)
		}
		// Issue n exists: another run created it a moment ago, or a crash
		// came between creating it and advancing the counter.
		stored, err := s.Issues.Get(ctx, n)
		if err != nil {
			return stored, false, fmt.Errorf("publish: %w", err)
		}
		if stored.Status != gazette.IssueEnqueued {
			return stored, true, nil // carry on with it
		}
		// Finished already, but the counter lagged behind it: the pending
		// articles go into the next number.
	}
}

func (s *Service) claim(ctx context.Context, st gazette.IssueState) (gazette.Issue, error) {
	issue := gazette.Issue{Number: st.Number, Date: st.CreatedAt}
	for _, id := range st.ArticleIDs {
		a, err := s.Articles.Claim(ctx, id, st.Number)
		if gazette.KindOf(err) == gazette.KindConflict {
			// Taken by another issue between listing and claiming.
			s.Log.WarnContext(ctx, "article already in another issue", "issue", st.Number, "article", id)
			continue
		}
		if err != nil {
			return issue, fmt.Errorf("publish issue %d: %w", st.Number, err)
		}
		issue.Articles = append(issue.Articles, a)
	}
	return issue, nil
}

func (s *Service) render(ctx context.Context, st gazette.IssueState, issue gazette.Issue) (gazette.IssueState, error) {
	email, err := digest.Render(issue, s.Brand, s.Links, s.Render)
	if err != nil {
		return st, fmt.Errorf("publish issue %d: render: %w", st.Number, err)
	}
	issue.Subject = email.Subject
	if err := s.Templates.PutTemplate(ctx, st.Template, email); err != nil {
		return st, fmt.Errorf("publish issue %d: %w", st.Number, err)
	}
	pages, err := s.archive(ctx, issue)
	if err != nil {
		return st, fmt.Errorf("publish issue %d: %w", st.Number, err)
	}
	next := st
	next.Status, next.Subject = gazette.IssueRendered, email.Subject
	if err := s.Issues.Save(ctx, next, st.Cursor, st.Batches); err != nil {
		return st, fmt.Errorf("publish issue %d: %w", st.Number, err)
	}
	s.Log.InfoContext(ctx, "issue rendered", "issue", st.Number, "template", st.Template,
		"htmlBytes", len(email.HTML), "archivePages", pages)
	return next, nil
}

// enqueue pages through confirmed subscribers and sends their batches,
// one page at a time: plan the page (list it, form its batches, store the
// segment templates), save the plan, enqueue the plan's batches, then save
// the issue's progress. The plan is saved before anything is enqueued, so
// whatever a crashed run may have enqueued for a page is in its plan; the
// resumed run finds that plan matching its progress and enqueues the same
// batches again (same numbers, same recipients, which the delivery ledger
// makes harmless) instead of re-listing the page. Every recipient is thus in
// exactly one batch number of the issue: pages are disjoint ID ranges, and a
// page's batches are fixed by its plan before any is enqueued.
func (s *Service) enqueue(ctx context.Context, st gazette.IssueState, issue gazette.Issue) (gazette.IssueState, error) {
	seg := segments{issue: issue, templates: map[string]string{}}
	// Loaded once: only the first page of a resumed run can have a plan
	// saved; every later page is planned by this run.
	saved, haveSaved, err := s.Plans.LoadPlan(ctx, st.Number)
	if err != nil {
		return st, fmt.Errorf("publish issue %d: plan: %w", st.Number, err)
	}
	for {
		var p gazette.SendPlan
		if haveSaved && planMatches(saved, st) {
			p = saved
			seg.remember(p.Batches)
			s.Log.InfoContext(ctx, "page plan reused", "issue", st.Number, "firstBatch", p.FirstBatch, "batches", len(p.Batches))
		} else if p, err = s.plan(ctx, &seg, st); err != nil {
			return st, err
		}
		haveSaved = false

		batches := make([]any, len(p.Batches))
		for i, b := range p.Batches {
			batches[i] = b
		}
		if err := s.Queue.SendJSON(ctx, batches); err != nil {
			return st, fmt.Errorf("publish issue %d: enqueue: %w", st.Number, err)
		}
		prev := st
		st.Cursor, st.Batches = p.Next, st.Batches+len(p.Batches)
		st.Recipients, st.Unmatched = st.Recipients+p.Recipients, st.Unmatched+p.Unmatched
		if p.Next == "" {
			st.Status, st.EnqueuedAt = gazette.IssueEnqueued, s.Now().UTC()
		}
		if err := s.Issues.Save(ctx, st, prev.Cursor, prev.Batches); err != nil {
			return st, fmt.Errorf("publish issue %d: %w", st.Number, err)
		}
		if len(p.Batches) > 0 {
			s.Log.InfoContext(ctx, "batches enqueued", "issue", st.Number, "batches", len(p.Batches),
				"recipients", p.Recipients, "segments", countSegments(p.Batches), "unmatched", p.Unmatched)
		}
		if p.Next == "" {
			s.Log.InfoContext(ctx, "issue enqueued", "issue", st.Number, "batches", st.Batches,
				"recipients", st.Recipients, "unmatched", st.Unmatched)
			return st, nil
		}
	}
}

// plan lists the page that starts at st's cursor, forms its batches
// (storing the segment templates they name) and saves them as the issue's
// plan. If another run saved a plan of this page first, that plan is
// returned instead: its batches may be on the queue already, and a second
// forming of the page could put a recipient under another batch number.
func (s *Service) plan(ctx context.Context, seg *segments, st gazette.IssueState) (gazette.SendPlan, error) {
	subs, next, err := s.Subscribers.ListConfirmed(ctx, st.Cursor, pageSize)
	if err != nil {
		return gazette.SendPlan{}, fmt.Errorf("publish issue %d: %w", st.Number, err)
	}
	p := gazette.SendPlan{Cursor: st.Cursor, FirstBatch: st.Batches, Listed: st.Recipients + st.Unmatched, Next: next}
	// Listed now: send-batch skips whoever leaves after this.
	listedAt := s.Now().UTC()
	// Group the page by segment, keeping first-seen order so batch numbers
	// are stable for the same page.
	groups := map[string][]gazette.Recipient{}
	var order []string
	for _, sub := range subs {
		key, articles := seg.of(sub.Topics)
		if key == "" {
			p.Unmatched++ // none of this issue's topics is one they chose
			continue
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
			// Stored before the plan is saved, so that a saved plan's
			// templates always exist (see segments.remember).
			if err := s.segmentTemplate(ctx, seg, st, key, articles); err != nil {
				return gazette.SendPlan{}, err
			}
		}
		groups[key] = append(groups[key], gazette.Recipient{SubscriberID: sub.ID, Email: sub.Email, Name: sub.Name})
		p.Recipients++
	}
	for _, key := range order {
		rs := groups[key]
		for start := 0; start < len(rs); start += gazette.MaxBatchRecipients {
			p.Batches = append(p.Batches, gazette.SendBatch{Issue: st.Number, Batch: st.Batches + len(p.Batches) + 1,
				Segment: key, Template: seg.templates[key], PlannedAt: listedAt,
				Recipients: rs[start:min(start+gazette.MaxBatchRecipients, len(rs))]})
		}
	}
	err = s.Plans.SavePlan(ctx, st.Number, p)
	if gazette.KindOf(err) == gazette.KindConflict {
		// Another run is enqueueing this issue too. If it planned this page
		// first, enqueue its plan, not ours (its Save or ours then loses the
		// optimistic lock on the issue, and the loser stops there). If it
		// moved past the page, this run is behind and stops here, before
		// enqueueing a second forming of a page already sent.
		other, ok, lerr := s.Plans.LoadPlan(ctx, st.Number)
		if lerr != nil {
			return gazette.SendPlan{}, fmt.Errorf("publish issue %d: plan: %w", st.Number, lerr)
		}
		if ok && planMatches(other, st) {
			seg.remember(other.Batches)
			s.Log.InfoContext(ctx, "page planned by another run", "issue", st.Number, "firstBatch", other.FirstBatch)
			return other, nil
		}
	}
	if err != nil {
		return gazette.SendPlan{}, fmt.Errorf("publish issue %d: plan: %w", st.Number, err)
	}
	return p, nil
}

// countSegments counts the distinct segments of batches, for the log.
func countSegments(batches []gazette.SendBatch) int {
	seen := map[string]bool{}
	for _, b := range batches {
		seen[b.Segment] = true
	}
	return len(seen)
}

// segmentTemplate makes sure the SES template of segment key exists: the
// whole issue's was stored by render; a topic segment's is rendered from its
// articles once per run (a resumed run stores the same content again, which
// PutTemplate makes harmless).
func (s *Service) segmentTemplate(ctx context.Context, seg *segments, st gazette.IssueState, key string, articles []gazette.Article) error {
	if _, ok := seg.templates[key]; ok {
		return nil
	}
	if key == AllTopics {
		seg.templates[key] = st.Template // the whole issue's, stored by render
		return nil
	}
	part := seg.issue
	part.Articles = articles
	email, err := digest.Render(part, s.Brand, s.Links, s.Render)
	if err != nil {
		return fmt.Errorf("publish issue %d: render segment %s: %w", st.Number, key, err)
	}
	name := st.Template + "-" + key
	if err := s.Templates.PutTemplate(ctx, name, email); err != nil {
		return fmt.Errorf("publish issue %d: %w", st.Number, err)
	}
	seg.templates[key] = name
	s.Log.InfoContext(ctx, "segment rendered", "issue", st.Number, "segment", key, "articles", len(articles))
	return nil
}

// SummariesKey holds the summary of every issue, which the archive's index
// and feed are rebuilt from without reading old issues back.
const SummariesKey = digest.ArchivePrefix + "/issues.json"

// archive writes the issue's web pages and returns how many it wrote. The
// summaries file is written last: if we crash before it, the resumed run
// rebuilds the same pages from the same summaries.
func (s *Service) archive(ctx context.Context, issue gazette.Issue) (int, error) {
	var all []digest.IssueSummary
	data, err := s.Archive.Get(ctx, SummariesKey, 0)
	switch gazette.KindOf(err) {
	case gazette.KindNotFound: // the first issue
	case gazette.KindUnknown:
		if err != nil {
			return 0, fmt.Errorf("archive: %w", err)
		}
		if err := json.Unmarshal(data, &all); err != nil {
			return 0, fmt.Errorf("archive: decode %s: %w", SummariesKey, err)
		}
	default:
		return 0, fmt.Errorf("archive: %w", err)
	}
	all = slices.DeleteFunc(all, func(x digest.IssueSummary) bool { return x.Number == issue.Number })
	all = append(all, digest.Summarize(issue))
	sort.Slice(all, func(i, j int) bool { return all[i].Number < all[j].Number })

	pages, err := digest.Pages(issue, all, s.Brand, s.Links)
	if err != nil {
		return 0, fmt.Errorf("archive: %w", err)
	}
	for _, p := range pages {
		if err := s.Archive.Put(ctx, p.Key, p.ContentType, p.Body); err != nil {
			return 0, fmt.Errorf("archive: %w", err)
		}
	}
	body, err := json.Marshal(all)
	if err != nil {
		return 0, fmt.Errorf("archive: encode summaries: %w", err)
	}
	if err := s.Archive.Put(ctx, SummariesKey, "application/json", body); err != nil {
		return 0, fmt.Errorf("archive: %w", err)
	}
	return len(pages), nil
}
