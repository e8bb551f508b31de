// Command publish-digest is the PublishDigestFunction Lambda: on the digest
// schedule it publishes the next issue and enqueues its send batches.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/boot"
	"github.com/gazette-news/gazette/internal/digest"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/publish"
	"github.com/gazette-news/gazette/internal/s3store"
	"github.com/gazette-news/gazette/internal/sesmail"
	"github.com/gazette-news/gazette/internal/sqsqueue"
)

func main() { boot.Start(setup) }

func setup(ctx context.Context, log *slog.Logger) (any, error) {
	env, err := boot.Env(os.Getenv, "ARTICLES_BUCKET", "ARTICLES_TABLE", "ISSUES_TABLE", "SUBSCRIBERS_TABLE",
		"LEDGER_TABLE", "SEND_QUEUE_URL", "TEMPLATE_PREFIX", "ARCHIVE_BASE_URL")
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = awsconfig.EndpointOverridden(cfg, os.Getenv, "S3")
	})
	svc := &publish.Service{
		Articles:       dynamo.NewArticles(db, env["ARTICLES_TABLE"]),
		Issues:         dynamo.NewIssues(db, env["ISSUES_TABLE"]),
		Subscribers:    dynamo.NewSubscribers(db, env["SUBSCRIBERS_TABLE"]),
		Templates:      sesmail.Templates{Client: sesmail.New(sesv2.NewFromConfig(cfg))},
		Archive:        s3store.New(s3c, env["ARTICLES_BUCKET"]),
		Queue:          sqsqueue.New(sqs.NewFromConfig(cfg), env["SEND_QUEUE_URL"]),
		Plans:          dynamo.NewPlans(db, env["LEDGER_TABLE"]), // one item per issue in the ledger
		TemplatePrefix: env["TEMPLATE_PREFIX"],
		Brand: digest.Brand{
			Name:          os.Getenv("PUBLISHER_NAME"),
			Link:          env["ARCHIVE_BASE_URL"],
			PostalAddress: os.Getenv("POSTAL_ADDRESS"),
			Why:           "You get this because you subscribed to " + os.Getenv("PUBLISHER_NAME") + " and confirmed your address.",
		},
		Links:  digest.Links{ArchiveBase: env["ARCHIVE_BASE_URL"]},
		Render: digest.Options{SubjectPattern: os.Getenv("SUBJECT_PATTERN")},
		Now:    time.Now,
		Log:    log,
	}
	h := &Handler{Publish: svc, Log: log}
	return h.Handle, nil
}
