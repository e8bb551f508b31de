// Command send-batch is the SendBatchFunction Lambda: it sends one batch of
// an issue through SES SendBulkEmail, once per recipient.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/boot"
	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/secrets"
	"github.com/gazette-news/gazette/internal/sesmail"
	"github.com/gazette-news/gazette/internal/sqsqueue"
	"github.com/gazette-news/gazette/internal/token"
)

func main() { boot.Start(setup) }

func setup(ctx context.Context, log *slog.Logger) (any, error) {
	env, err := boot.Env(os.Getenv, "LEDGER_TABLE", "ISSUES_TABLE", "SUBSCRIBERS_TABLE", "SENDER_ADDRESS", "PUBLIC_BASE_URL",
		"TOKEN_SECRET_ARN", "SEND_CONCURRENCY", "SEND_QUEUE_URL", "SEND_DLQ_URL")
	if err != nil {
		return nil, err
	}
	concurrency, err := strconv.Atoi(env["SEND_CONCURRENCY"])
	if err != nil || concurrency < 1 {
		return nil, fmt.Errorf("SEND_CONCURRENCY %q is not a positive number", env["SEND_CONCURRENCY"])
	}
	var rates [3]float64
	for i, v := range []struct {
		name string
		def  float64
	}{{"MAX_BOUNCE_RATE", 0.05}, {"MAX_COMPLAINT_RATE", 0.001}, {"GUARD_MIN_SENT", 100}} {
		if rates[i], err = envFloat(v.name, v.def); err != nil {
			return nil, err
		}
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
	// source's MaximumConcurrency (SEND_CONCURRENCY) caps how many there
	// are. Each instance takes a whole-message share per window, so that
	// all of them together never pass MaxSendRate in any second (see
	// delivery.WindowLimiter for the argument).
	perInstance := delivery.PerInstance(quota.MaxSendRate, concurrency)
	chunk := delivery.ChunkFor(perInstance)
	if float64(concurrency) > quota.MaxSendRate {
		log.Error("SEND_CONCURRENCY exceeds MaxSendRate: one message a second per instance may pass the account's rate; lower MaxSendConcurrency",
			"maxSendRate", quota.MaxSendRate, "concurrency", concurrency)
	}
	log.Info("send rate", "maxSendRate", quota.MaxSendRate, "concurrency", concurrency,
		"perInstance", perInstance, "chunk", chunk, "max24HourSend", quota.Max24HourSend,
		"sentLast24Hours", quota.SentLast24Hours)
	daily := &delivery.DailyQuota{
		Source: sesmail.Account{Client: ses}, Reserve: concurrency * chunk,
		Near: 60 * int(quota.MaxSendRate), Refresh: time.Minute, Now: time.Now,
	}
	// The GetAccount answer read above for the rate also holds the daily
	// quota until the first refresh: no second call on the first batch.
	daily.Seed(delivery.SendQuota{Max24HourSend: quota.Max24HourSend, SentLast24Hours: quota.SentLast24Hours}, time.Now())
	db := dynamodb.NewFromConfig(cfg)
	sqsc := sqs.NewFromConfig(cfg)
	svc := &delivery.Service{
		// A claim per batch and one write per SES call (see the delivery
		// package).
		Ledger: dynamo.NewLedger(db, env["LEDGER_TABLE"]),
		Sender: sesmail.BulkSender{Client: ses, From: env["SENDER_ADDRESS"],
			ConfigurationSet: os.Getenv("CONFIGURATION_SET")},
		// startFull: a fresh environment may replace one that sent within
		// the last second (see delivery.WindowLimiter).
		Limiter: delivery.NewWindowLimiter(perInstance, time.Second+delivery.WindowMargin, delivery.RealClock{}, true),
		Links:   token.Links{Base: env["PUBLIC_BASE_URL"], Signer: signer},
		Quota:   daily,
		Guard: &delivery.Guard{
			Store: dynamo.NewIssues(db, env["ISSUES_TABLE"]), MaxBounceRate: rates[0], MaxComplaintRate: rates[1],
			MinSent: int(rates[2]), Now: time.Now, Log: log,
			// Feedback reaches the counters seconds to minutes late anyway.
			CacheFor: delivery.HealthyFor,
		},
		// Skip whoever left after their batch was planned: the suppression
		// log, read once per DeparturesTTL (30 s by default), not per batch.
		Departures: dynamo.NewSubscribers(db, env["SUBSCRIBERS_TABLE"]),
		Chunk:      chunk,
		Lease:      2 * time.Minute,
		Now:        time.Now,
		Log:        log,
	}
	h := &Handler{
		Send:       svc,
		Parking:    queues{send: sqsqueue.New(sqsc, env["SEND_QUEUE_URL"]), dlq: sqsqueue.New(sqsc, env["SEND_DLQ_URL"])},
		QuotaDelay: sqsqueue.MaxDelay,
		Log:        log,
	}
	return h.Handle, nil
}

func envFloat(name string, def float64) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%s %q is not a non-negative number", name, v)
	}
	return f, nil
}

// queues implements Parking with the send queue and its DLQ.
type queues struct{ send, dlq *sqsqueue.Queue }

func (q queues) Park(ctx context.Context, body string, attrs map[string]string) error {
	return q.dlq.Send(ctx, body, 0, attrs)
}

func (q queues) Defer(ctx context.Context, body string, delay time.Duration, attrs map[string]string) error {
	return q.send.Send(ctx, body, delay, attrs)
}
