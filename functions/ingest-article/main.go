// Command ingest-article is the IngestArticleFunction Lambda: it cleans each
// article dropped into incoming/ and stores it as pending.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gazette-news/gazette/internal/article"
	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/ingest"
	"github.com/gazette-news/gazette/internal/logging"
	"github.com/gazette-news/gazette/internal/s3store"
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
	bucket, table := os.Getenv("ARTICLES_BUCKET"), os.Getenv("ARTICLES_TABLE")
	if bucket == "" || table == "" {
		return nil, fmt.Errorf("ARTICLES_BUCKET and ARTICLES_TABLE must be set")
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = awsconfig.EndpointOverridden(cfg, os.Getenv, "S3")
	})
	svc := &ingest.Service{
		Objects:  s3store.New(s3c, bucket),
		Articles: dynamo.NewArticles(dynamodb.NewFromConfig(cfg), table),
		Parse: func(name string, data []byte) (gazette.Article, error) {
			return article.Parse(name, data, article.Options{})
		},
		Now: time.Now,
		Log: log,
	}
	return &Handler{Ingest: svc, Bucket: bucket, Log: log}, nil
}
