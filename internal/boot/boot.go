// Package boot starts a Gazette Lambda function: JSON logging, its
// configuration from the environment, and an init failure that is logged
// and reported instead of a function serving with half a configuration.
package boot

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/gazette-news/gazette/internal/logging"
)

// Start builds the function's handler with setup and hands it to the Lambda
// runtime. If setup fails, the error is logged as JSON and the process exits
// non-zero, which Lambda reports as an init error.
func Start(setup func(ctx context.Context, log *slog.Logger) (handler any, err error)) {
	log := logging.New(os.Stdout)
	h, err := setup(context.Background(), log)
	if err != nil {
		log.Error("init failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}

// Env returns the named variables from getenv, or an error naming every one
// that is unset: the template sets them all, so a missing one is a
// deployment mistake worth seeing in full.
func Env(getenv func(string) string, names ...string) (map[string]string, error) {
	env := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		if env[n] = getenv(n); env[n] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment: %s must be set", strings.Join(missing, ", "))
	}
	return env, nil
}
