// Command ses-feedback is the SesFeedbackFunction Lambda: it suppresses
// subscribers on hard bounces and complaints and counts issue statistics.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/boot"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/feedback"
)

func main() { boot.Start(setup) }

func setup(ctx context.Context, log *slog.Logger) (any, error) {
	env, err := boot.Env(os.Getenv, "SUBSCRIBERS_TABLE", "ISSUES_TABLE")
	if err != nil {
		return nil, err
	}
	subs, issues := env["SUBSCRIBERS_TABLE"], env["ISSUES_TABLE"]
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	subscribers := dynamo.NewSubscribers(db, subs)
	subscribers.Logger = log
	svc := &feedback.Service{
		Subscribers: subscribers,
		Stats:       dynamo.NewIssues(db, issues),
		Now:         time.Now,
		Log:         log,
	}
	h := &Handler{Feedback: svc, Log: log}
	return h.Handle, nil
}
