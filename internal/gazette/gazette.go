// Package gazette holds the domain types shared by every part of Gazette:
// articles, issues, subscribers and the error kinds that let handlers decide
// between retrying and parking a piece of work. It imports nothing from AWS.
package gazette

import "time"

// ArticleStatus says where an article is in its life.
type ArticleStatus string

// Article states.
const (
	// ArticlePending articles wait for the next issue.
	ArticlePending ArticleStatus = "pending"
	// ArticlePublished articles belong to an issue.
	ArticlePublished ArticleStatus = "published"
)

// Article is a cleaned, normalised article as editors see it in an issue.
type Article struct {
	ID         string        `json:"id"`
	Slug       string        `json:"slug"`
	Title      string        `json:"title"`
	Summary    string        `json:"summary"`
	Paragraphs []string      `json:"paragraphs"`
	Source     string        `json:"source,omitempty"`
	Author     string        `json:"author,omitempty"`
	Published  time.Time     `json:"published,omitzero"`
	URL        string        `json:"url,omitempty"`
	Image      string        `json:"image,omitempty"`
	Topics     []string      `json:"topics"`
	Language   string        `json:"language,omitempty"`
	Words      int           `json:"words"`
	Warnings   []string      `json:"warnings,omitempty"`
	Status     ArticleStatus `json:"status,omitempty"`
	Issue      int           `json:"issue,omitempty"`
	ObjectKey  string        `json:"objectKey,omitempty"`
	IngestedAt time.Time     `json:"ingestedAt,omitzero"`
}

// ReadingMinutes is the reading time at 230 words a minute, at least one.
func (a Article) ReadingMinutes() int {
	m := (a.Words + 229) / 230
	return max(m, 1)
}

// Issue is one numbered digest.
type Issue struct {
	Number     int       `json:"number"`
	Subject    string    `json:"subject"`
	Date       time.Time `json:"date"`
	Articles   []Article `json:"articles"`
	ArchiveURL string    `json:"archiveUrl,omitempty"`
}

// SubscriberStatus is the state of one subscription.
type SubscriberStatus string

// Subscriber states. Only confirmed subscribers are mailed; bounced and
// complained are suppressions that only a fresh opt-in clears.
const (
	SubscriberPending      SubscriberStatus = "pending"
	SubscriberConfirmed    SubscriberStatus = "confirmed"
	SubscriberUnsubscribed SubscriberStatus = "unsubscribed"
	SubscriberBounced      SubscriberStatus = "bounced"
	SubscriberComplained   SubscriberStatus = "complained"
)

// Subscriber is one person on the list. ID is derived from the address (see
// SubscriberID), so it is stable and safe to log.
type Subscriber struct {
	ID          string           `json:"id"`
	Email       string           `json:"email"`
	Name        string           `json:"name,omitempty"`
	Topics      []string         `json:"topics,omitempty"`
	Status      SubscriberStatus `json:"status"`
	CreatedAt   time.Time        `json:"createdAt,omitzero"`
	UpdatedAt   time.Time        `json:"updatedAt,omitzero"`
	ConfirmedAt time.Time        `json:"confirmedAt,omitzero"`
	Reason      string           `json:"reason,omitempty"`
}

// Recipient is what a send batch carries for one subscriber: enough to
// personalise the issue without another database read.
type Recipient struct {
	SubscriberID string `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name,omitempty"`
}

// SendBatch is one SQS message for send-batch: at most MaxBatchRecipients
// recipients of one issue, rendered into one SES template.
type SendBatch struct {
	Issue      int         `json:"issue"`
	Segment    string      `json:"segment,omitempty"`
	Batch      int         `json:"batch"`
	Template   string      `json:"template"`
	Recipients []Recipient `json:"recipients"`
	// PlannedAt is when publish formed the batch from the subscribers
	// table: send-batch skips recipients who left after it.
	PlannedAt time.Time `json:"plannedAt,omitzero"`
}

// MaxBatchRecipients is SES SendBulkEmail's limit of destinations per call.
const MaxBatchRecipients = 50

// IssueStatus is how far publishing an issue got.
type IssueStatus string

// Issue states, in order. Anything before IssueEnqueued is resumed by the
// next publish run instead of starting a new issue.
const (
	IssueCreated  IssueStatus = "created"  // number taken, articles listed
	IssueRendered IssueStatus = "rendered" // SES template and archive written
	IssueEnqueued IssueStatus = "enqueued" // every batch is on the send queue
)

// IssueState is the persisted progress of publishing one issue, so that a
// crashed or re-invoked publish resumes where it stopped.
type IssueState struct {
	Number     int         `json:"number"`
	Status     IssueStatus `json:"status"`
	ArticleIDs []string    `json:"articleIds"`
	Subject    string      `json:"subject,omitempty"`
	Template   string      `json:"template,omitempty"`
	Cursor     string      `json:"cursor,omitempty"` // subscribers paged so far
	Batches    int         `json:"batches"`
	Recipients int         `json:"recipients"`
	// Unmatched counts confirmed readers who got nothing because none of
	// the issue's articles is on a topic they chose.
	Unmatched  int       `json:"unmatched"`
	CreatedAt  time.Time `json:"createdAt"`
	EnqueuedAt time.Time `json:"enqueuedAt,omitzero"`
}

// SendPlan is one page of an issue's recipients cut into send batches,
// saved (publish's write-ahead plan) before any of them is enqueued, so that
// a resumed publish enqueues the same batches instead of listing the page
// again.
type SendPlan struct {
	// Cursor is the issue's subscriber cursor when the page was listed:
	// where the page starts.
	Cursor string `json:"cursor"`
	// FirstBatch is the issue's batch count then; the page's batches are
	// numbered FirstBatch+1, FirstBatch+2, ….
	FirstBatch int `json:"firstBatch"`
	// Listed is how many subscribers the issue had listed before the page
	// (its Recipients + Unmatched then). It grows with every page that
	// lists anyone, so it orders an issue's plans where the opaque cursors
	// cannot: a run that fell behind must not replace a later page's plan.
	Listed int `json:"listed"`
	// Next is the cursor after the page; "" when it is the last page.
	Next string `json:"next"`
	// Recipients and Unmatched are what the page adds to the issue's counts.
	Recipients int `json:"recipients"`
	Unmatched  int `json:"unmatched"`
	// Batches are the page's send batches, in batch number order.
	Batches []SendBatch `json:"batches"`
}
