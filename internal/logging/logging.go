// Package logging sets up the JSON logger every Gazette process uses and the
// attributes that keep personal data out of logs.
package logging

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/gazette-news/gazette/internal/gazette"
)

// New returns a JSON logger writing to w at the level named by the LOG_LEVEL
// variable (DEBUG, INFO, WARN, ERROR; INFO when unset or unknown). Lambda
// passes every line to CloudWatch as is, so one JSON object per line is what
// Logs Insights can query.
func New(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.TrimSpace(os.Getenv("LOG_LEVEL")))); err != nil {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	// Libraries that log through slog's default (the AWS SDK, via
	// awsconfig) then write JSON too.
	slog.SetDefault(log)
	return log
}

// Subscriber is the attribute that names a subscriber in a log line: the
// subscriber ID (a hash of the address), never the address itself.
func Subscriber(email string) slog.Attr {
	return slog.String("subscriber", gazette.SubscriberID(email))
}
