// Package stacktest gives integration tests the running local stack, or skips
// them with the reason when it is not running.
//
// Set GAZETTE_INTEGRATION=1 (as `make test` does) to turn a missing stack into
// a failure instead: a CI run must never pass by skipping.
package stacktest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gazette-news/gazette/internal/localstack"
)

// EnvIntegration is the variable that makes a missing stack fatal.
const EnvIntegration = "GAZETTE_INTEGRATION"

// Require returns the local stack described by out/stack/stack.json (or
// $GAZETTE_STACK_DIR/stack.json) once all
// of its endpoints (moto, SES, the HTTP API and the invoke API) answer. If they
// do not, it skips the test ("local stack not running: run make stack-up"),
// or fails it when GAZETTE_INTEGRATION=1.
func Require(t testing.TB) *localstack.Stack {
	t.Helper()
	st, err := find()
	if err == nil {
		err = reachable(st)
	}
	if err != nil {
		Unavailable(t, err)
	}
	return st
}

// Unavailable skips the test because the stack (or a tool it needs) is not
// there, or fails it when GAZETTE_INTEGRATION=1.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("local stack not running: run make stack-up (%v)", err)
	if os.Getenv(EnvIntegration) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RepoRoot is localstack.RepoRoot.
func RepoRoot() (string, error) { return localstack.RepoRoot() }

// EnvStackDir is localstack.EnvStackDir.
const EnvStackDir = localstack.EnvStackDir

func find() (*localstack.Stack, error) {
	dir, err := localstack.StackDir()
	if err != nil {
		return nil, err
	}
	return localstack.ReadStack(filepath.Join(dir, "stack.json"))
}

func reachable(st *localstack.Stack) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for name, url := range map[string]string{
		"moto":       st.Endpoints.AWS + "/moto-api/",
		"SES":        st.Endpoints.SESv2 + "/health-check",
		"HTTP API":   st.Endpoints.HTTPAPI + "/",
		"invoke API": st.Endpoints.Lambda + "/_stack/status",
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%s at %s does not answer: %w", name, url, err)
		}
		resp.Body.Close()
	}
	return nil
}
