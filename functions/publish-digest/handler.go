package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/publish"
)

// Publisher is the core call this handler makes.
type Publisher interface {
	PublishDigest(ctx context.Context) (publish.Result, error)
}

// Request is the schedule's Input ({"action":"publish"}) or a manual invoke.
type Request struct {
	Action string `json:"action"`
}

// Handler runs one publish per invocation.
type Handler struct {
	Publish Publisher
	Log     *slog.Logger
}

// Handle publishes the next issue. An error makes the invocation fail, so
// EventBridge Scheduler retries it (RetryPolicy in template.yaml); the core
// resumes the unfinished issue, so a retry never starts a second one.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (publish.Result, error) {
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return publish.Result{}, gazette.Wrap(gazette.KindInvalid, "bad_request", fmt.Errorf("publish-digest event is not JSON: %w", err))
	}
	if req.Action != "publish" {
		return publish.Result{}, gazette.Errorf(gazette.KindInvalid, "bad_request",
			"publish-digest: unknown action %q (want {\"action\":\"publish\"})", req.Action)
	}
	res, err := h.Publish.PublishDigest(ctx)
	if err != nil {
		h.Log.ErrorContext(ctx, "publish failed", "kind", gazette.KindOf(err).String(), "error", err.Error())
		return res, err
	}
	h.Log.InfoContext(ctx, "publish finished", "issue", res.Issue, "articles", res.Articles,
		"batches", res.Batches, "recipients", res.Recipients, "resumed", res.Resumed, "skipped", res.Skipped)
	return res, nil
}
