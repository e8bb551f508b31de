package main

import (
	"testing"

	"github.com/gazette-news/gazette/internal/localstack"
)

func TestEndpointsFromEnv(t *testing.T) {
	for _, k := range []string{"GAZETTE_MOTO_PORT", "GAZETTE_SES_PORT", "GAZETTE_API_PORT", "GAZETTE_LAMBDA_PORT"} {
		t.Setenv(k, "")
	}
	if got, want := endpointsFromEnv(), localstack.DefaultEndpoints(); got != want {
		t.Errorf("no variables set: %+v, want the defaults %+v", got, want)
	}
	t.Setenv("GAZETTE_MOTO_PORT", "15000")
	t.Setenv("GAZETTE_LAMBDA_PORT", "not a port")
	want := localstack.DefaultEndpoints()
	want.AWS = "http://127.0.0.1:15000"
	if got := endpointsFromEnv(); got != want {
		t.Errorf("GAZETTE_MOTO_PORT=15000: %+v, want %+v", got, want)
	}
}
