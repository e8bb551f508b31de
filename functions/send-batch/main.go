// Command send-batch is the SendBatchFunction Lambda: it sends one batch of
// an issue through SES SendBulkEmail, once per recipient.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/logging"
	"github.com/gazette-news/gazette/internal/secrets"
	"github.com/gazette-news/gazette/internal/sesmail"
	"github.com/gazette-news/gazette/internal/token"
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
	env := map[string]string{}
	for _, k := range []string{"LEDGER_TABLE", "SENDER_ADDRESS", "PUBLIC_BASE_URL", "TOKEN_SECRET_ARN", "SEND_CONCURRENCY"} {
		if env[k] = os.Getenv(k); env[k] == "" {
			return nil, fmt.Errorf("%s must be set", k)
		}
	}
	concurrency, err := strconv.Atoi(env["SEND_CONCURRENCY"])
	if err != nil || concurrency < 1 {
		return nil, fmt.Errorf("SEND_CONCURRENCY %q is not a positive number", env["SEND_CONCURRENCY"])
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := secrets.Keys(ctx, secretsmanager.NewFromConfig(cfg), env["TOKEN_SECRET_ARN"])
	if err != nil {
		return nil, err
	}
	signer, err := token.NewSigner(keys...)
	if err != nil {
		return nil, err
	}
	ses := sesmail.New(sesv2.NewFromConfig(cfg))
	quota, err := ses.Quota(ctx)
	if err != nil {
		return nil, err
	}
	// The account's rate is shared by every concurrent instance; the event
	// source's MaximumConcurrency (SEND_CONCURRENCY) caps how many there are.
	perInstance := quota.MaxSendRate / float64(concurrency)
	chunk := min(gazette.MaxBatchRecipients, max(1, int(math.Floor(perInstance))))
	log.Info("send rate", "maxSendRate", quota.MaxSendRate, "concurrency", concurrency,
		"perInstance", perInstance, "chunk", chunk)
	svc := &delivery.Service{
		Ledger: dynamo.NewLedger(dynamodb.NewFromConfig(cfg), env["LEDGER_TABLE"]),
		Sender: sesmail.BulkSender{Client: ses, From: env["SENDER_ADDRESS"],
			ConfigurationSet: os.Getenv("CONFIGURATION_SET")},
		Limiter: delivery.NewRateLimiter(perInstance, chunk),
		Links:   token.Links{Base: env["PUBLIC_BASE_URL"], Signer: signer},
		Chunk:   chunk,
		Lease:   2 * time.Minute,
		Now:     time.Now,
		Log:     log,
	}
	return &Handler{Send: svc, Log: log}, nil
}
