// Command ses-feedback is the SesFeedbackFunction Lambda: it suppresses
// subscribers on hard bounces and complaints and counts issue statistics.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/feedback"
	"github.com/gazette-news/gazette/internal/logging"
)

func main() {
	log := logging.New(os.Stdout)
	h, err := setup(context.Background(), log)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func setup(ctx context.Context, log *slog.Logger) (*Handler, error) {
	subs, issues := os.Getenv("SUBSCRIBERS_TABLE"), os.Getenv("ISSUES_TABLE")
	if subs == "" || issues == "" {
		return nil, fmt.Errorf("SUBSCRIBERS_TABLE and ISSUES_TABLE must be set")
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	svc := &feedback.Service{
		Subscribers: dynamo.NewSubscribers(db, subs),
		Stats:       dynamo.NewIssues(db, issues),
		Now:         time.Now,
		Log:         log,
	}
	return &Handler{Feedback: svc, Log: log}, nil
}
