// Package awsconfig loads the AWS SDK configuration shared by every adapter.
package awsconfig

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Load reads the standard SDK configuration: region, credentials and, for the
// local stack, the endpoint overrides AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE>, which the SDK applies by itself. There is no
// other switch between AWS and the emulators.
func Load(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
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
