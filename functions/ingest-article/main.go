// Command ingest-article is the IngestArticleFunction Lambda: it cleans each
// article dropped into incoming/ and stores it as pending.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gazette-news/gazette/internal/article"
	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/boot"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/ingest"
	"github.com/gazette-news/gazette/internal/s3store"
)

func main() { boot.Start(setup) }

func setup(ctx context.Context, log *slog.Logger) (any, error) {
	env, err := boot.Env(os.Getenv, "ARTICLES_BUCKET", "ARTICLES_TABLE")
	if err != nil {
		return nil, err
	}
	bucket, table := env["ARTICLES_BUCKET"], env["ARTICLES_TABLE"]
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
	h := &Handler{Ingest: svc, Bucket: bucket, Log: log}
	return h.Handle, nil
}
