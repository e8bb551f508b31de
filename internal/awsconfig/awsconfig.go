// Package awsconfig loads the AWS SDK configuration shared by every adapter.
package awsconfig

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// Load reads the standard SDK configuration: region, credentials and, for the
// local stack, the endpoint overrides AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>, which the SDK applies by itself. There is no
// other switch between AWS and the emulators. The HTTP client is
// HTTPClient's.
func Load(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(sdkLogger{}), config.WithHTTPClient(HTTPClient()))
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// EndpointOverridden reports whether the configuration points service (its
// SDK ID, e.g. "S3") at a custom endpoint through the standard variables.
// Custom S3 endpoints (moto, MinIO) need path-style addressing because
// bucket-name subdomains of an IP address do not resolve.
func EndpointOverridden(cfg aws.Config, lookup func(string) string, serviceEnv string) bool {
	if cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != "" {
		return true
	}
	return lookup("AWS_ENDPOINT_URL_"+serviceEnv) != "" || lookup("AWS_ENDPOINT_URL") != ""
}

// sdkLogger sends the SDK's own log lines (retries, checksum notes) through
// slog's default logger, so that a function's output stays one JSON object
// per line. The SDK's default logger writes plain text to stderr.
type sdkLogger struct{}

// Logf implements the SDK's logging.Logger.
func (sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	slog.Default().Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
}
