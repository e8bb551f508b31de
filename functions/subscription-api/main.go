// Command subscription-api is the SubscriptionApiFunction Lambda: the
// HTTP API behind sign-up, confirmation, unsubscribe and preferences.
// main only wires: configuration from the environment, AWS clients,
// adapters, the subscription core and the handler.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/boot"
	"github.com/gazette-news/gazette/internal/digest"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/secrets"
	"github.com/gazette-news/gazette/internal/sesmail"
	"github.com/gazette-news/gazette/internal/subscription"
	"github.com/gazette-news/gazette/internal/token"
)

// defaultPublisher names the newsletter when PUBLISHER_NAME is not set.
const defaultPublisher = "Gazette"

// config is the function's environment.
type config struct {
	table, sender, secretARN string
	publisher, postalAddress string
	configurationSet         string
	topics                   []string
	mailInterval             time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	env, err := boot.Env(getenv, "SUBSCRIBERS_TABLE", "SENDER_ADDRESS", "TOKEN_SECRET_ARN")
	if err != nil {
		return config{}, err
	}
	c := config{
		table:            env["SUBSCRIBERS_TABLE"],
		sender:           env["SENDER_ADDRESS"],
		secretARN:        env["TOKEN_SECRET_ARN"],
		publisher:        getenv("PUBLISHER_NAME"),
		postalAddress:    getenv("POSTAL_ADDRESS"),
		configurationSet: getenv("CONFIGURATION_SET"),
	}
	if c.publisher == "" {
		c.publisher = defaultPublisher
	}
	topics := getenv("TOPICS")
	if topics == "" {
		topics = subscription.DefaultTopics
	}
	c.topics = subscription.ParseTopics(topics)
	if s := getenv("SIGNUP_MAIL_INTERVAL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return config{}, fmt.Errorf("SIGNUP_MAIL_INTERVAL %q is not a positive duration", s)
		}
		c.mailInterval = d
	}
	return c, nil
}

func setup(ctx context.Context, log *slog.Logger, getenv func(string) string) (*Handler, error) {
	c, err := loadConfig(getenv)
	if err != nil {
		return nil, err
	}
	aws, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := secrets.Keys(ctx, secretsmanager.NewFromConfig(aws), c.secretARN)
	if err != nil {
		return nil, fmt.Errorf("token keys: %w", err)
	}
	signer, err := token.NewSigner(keys...)
	if err != nil {
		return nil, err
	}
	store := dynamo.NewSubscribers(dynamodb.NewFromConfig(aws), c.table)
	store.Logger = log
	brand := digest.Brand{Name: c.publisher, PostalAddress: c.postalAddress}
	m := newMailer(sesmail.New(sesv2.NewFromConfig(aws)), c.sender, brand, c.configurationSet)
	svc := subscription.New(store, m, signer, subscription.Config{
		Topics:       c.topics,
		MailInterval: c.mailInterval,
		Logger:       log,
	})
	return &Handler{Service: svc, Publisher: c.publisher, Log: log}, nil
}

func main() {
	boot.Start(func(ctx context.Context, log *slog.Logger) (any, error) {
		h, err := setup(ctx, log, os.Getenv)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
