// Package ingest turns an object dropped into incoming/ into a stored
// article, or into a rejected/ object with a reason beside it. Nothing an
// editor uploads is ever deleted: it ends under processed/ or rejected/.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

// Key prefixes of the articles bucket.
const (
	IncomingPrefix  = "incoming/"
	ProcessedPrefix = "processed/"
	RejectedPrefix  = "rejected/"
)

// MaxBytes is the largest file accepted; larger ones are rejected unread.
const MaxBytes = 5 << 20

// Objects is the bucket the articles arrive in.
type Objects interface {
	Get(ctx context.Context, key string, limit int64) ([]byte, error)
	Put(ctx context.Context, key, contentType string, body []byte) error
	Move(ctx context.Context, from, to string) error
	Exists(ctx context.Context, key string) (bool, error)
}

// Articles stores articles.
type Articles interface {
	// Create stores a new article; an existing ID is a gazette.KindConflict
	// error, which is how the same content uploaded twice becomes one article.
	Create(ctx context.Context, a gazette.Article) error
}

// ParseFunc turns a file into an article or a gazette.KindInvalid error.
type ParseFunc func(name string, data []byte) (gazette.Article, error)

// Outcome is what happened to one object.
type Outcome string

// Outcomes.
const (
	Stored         Outcome = "stored"
	Duplicate      Outcome = "duplicate"
	Rejected       Outcome = "rejected"
	AlreadyHandled Outcome = "already_handled"
)

// Result describes one ingested object.
type Result struct {
	Outcome   Outcome
	ArticleID string
	Code      string // rule that rejected the file
	MovedTo   string
}

// Reason is the JSON written beside a rejected file as <name>.reason.json.
type Reason struct {
	Object     string    `json:"object"`
	Code       string    `json:"code"`
	Reason     string    `json:"reason"`
	RejectedAt time.Time `json:"rejectedAt"`
}

// Service ingests articles.
type Service struct {
	Objects  Objects
	Articles Articles
	Parse    ParseFunc
	Now      func() time.Time
	Log      *slog.Logger
}

// IngestArticle handles the object key (under incoming/). It is idempotent:
// a redelivered event for an object already moved is AlreadyHandled, and the
// same content under another name is a Duplicate of the stored article.
func (s *Service) IngestArticle(ctx context.Context, key string) (Result, error) {
	if !strings.HasPrefix(key, IncomingPrefix) || strings.HasSuffix(key, "/") {
		return Result{}, gazette.Errorf(gazette.KindInvalid, "not_incoming", "ingest %s: not an object under %s", key, IncomingPrefix)
	}
	rel := strings.TrimPrefix(key, IncomingPrefix)
	data, err := s.Objects.Get(ctx, key, MaxBytes)
	switch gazette.KindOf(err) {
	case gazette.KindNotFound:
		return s.alreadyHandled(ctx, key, rel, err)
	case gazette.KindInvalid:
		return s.reject(ctx, key, rel, err)
	}
	if err != nil {
		return Result{}, fmt.Errorf("ingest %s: %w", key, err)
	}

	a, err := s.Parse(path.Base(key), data)
	if gazette.KindOf(err) == gazette.KindInvalid {
		return s.reject(ctx, key, rel, err)
	}
	if err != nil {
		return Result{}, fmt.Errorf("ingest %s: %w", key, err)
	}
	a.Status = gazette.ArticlePending
	a.ObjectKey = ProcessedPrefix + rel
	a.IngestedAt = s.Now().UTC()

	outcome := Stored
	if err := s.Articles.Create(ctx, a); gazette.KindOf(err) == gazette.KindConflict {
		outcome = Duplicate
	} else if err != nil {
		return Result{}, fmt.Errorf("ingest %s: store article %s: %w", key, a.ID, err)
	}
	// Store first, move second: a crash in between leaves the file in
	// incoming/, and the redelivered event finds the article stored
	// (Duplicate) and finishes the move.
	if err := s.Objects.Move(ctx, key, a.ObjectKey); err != nil {
		return Result{}, fmt.Errorf("ingest %s: %w", key, err)
	}
	s.Log.InfoContext(ctx, "article "+string(outcome), "object", key, "article", a.ID,
		"title", a.Title, "words", a.Words, "warnings", len(a.Warnings))
	return Result{Outcome: outcome, ArticleID: a.ID, MovedTo: a.ObjectKey}, nil
}

func (s *Service) reject(ctx context.Context, key, rel string, cause error) (Result, error) {
	code := gazette.CodeOf(cause)
	if code == "" {
		code = "invalid"
	}
	reason := Reason{Object: key, Code: code, Reason: reasonText(cause), RejectedAt: s.Now().UTC()}
	body, err := json.MarshalIndent(reason, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("ingest %s: encode reason: %w", key, err)
	}
	to := RejectedPrefix + rel
	// The reason goes first so that a rejected file never sits without one.
	if err := s.Objects.Put(ctx, to+".reason.json", "application/json", append(body, '\n')); err != nil {
		return Result{}, fmt.Errorf("ingest %s: write reason: %w", key, err)
	}
	if err := s.Objects.Move(ctx, key, to); err != nil {
		return Result{}, fmt.Errorf("ingest %s: %w", key, err)
	}
	s.Log.WarnContext(ctx, "article rejected", "object", key, "code", code, "reason", reason.Reason, "movedTo", to)
	return Result{Outcome: Rejected, Code: code, MovedTo: to}, nil
}

// reasonText is the message of the classified error, without the chain of
// operation names that only developers need.
func reasonText(err error) string {
	var e *gazette.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

func (s *Service) alreadyHandled(ctx context.Context, key, rel string, cause error) (Result, error) {
	for _, to := range []string{ProcessedPrefix + rel, RejectedPrefix + rel} {
		ok, err := s.Objects.Exists(ctx, to)
		if err != nil {
			return Result{}, fmt.Errorf("ingest %s: %w", key, err)
		}
		if ok {
			s.Log.InfoContext(ctx, "article event already handled", "object", key, "movedTo", to)
			return Result{Outcome: AlreadyHandled, MovedTo: to}, nil
		}
	}
	return Result{}, fmt.Errorf("ingest %s: %w", key, cause)
}
