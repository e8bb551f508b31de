package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ColdStart is one measured cold start of a function under aws-lambda-rie.
type ColdStart struct {
	// First is the first invocation of a fresh environment: RIE starts the
	// bootstrap on it, so it holds the process start, the Go runtime's
	// and main's initialisation (configuration, secrets, clients) and the
	// handler.
	First time.Duration
	// Warm is the next invocation of the same environment: the handler
	// alone.
	Warm time.Duration
	// Refused is set when the handler returned an error for the payload.
	// The measure stands, since initialisation ran before the handler did;
	// an environment that failed (crashed, timed out) is an error instead.
	Refused bool
}

// Init is what the cold start cost over a warm invocation.
func (c ColdStart) Init() time.Duration { return c.First - c.Warm }

// ColdStart replaces the function's environment with a fresh one (RIE up,
// its bootstrap not yet started) and times two invocations with payload:
// the cold one and a warm one. It leaves the environment stopped. Use it
// on a Server that is not Run: an SQS poller or a route could otherwise
// invoke the function in between.
func (s *Server) ColdStart(ctx context.Context, function string, payload []byte) (ColdStart, error) {
	r := s.byName[function]
	if r == nil {
		return ColdStart{}, fmt.Errorf("cold start: no function %q in the stack", function)
	}
	r.mu.Lock()
	r.stop()
	err := r.ensure()
	r.mu.Unlock()
	if err != nil {
		return ColdStart{}, fmt.Errorf("cold start %s: %w", function, err)
	}
	defer func() {
		r.mu.Lock()
		r.stop()
		r.mu.Unlock()
	}()
	var c ColdStart
	for _, d := range []*time.Duration{&c.First, &c.Warm} {
		start := time.Now()
		res, err := r.invoke(ctx, payload)
		if err != nil {
			return ColdStart{}, fmt.Errorf("cold start %s: %w", function, err)
		}
		*d = time.Since(start)
		if res.FunctionError {
			var doc struct{ ErrorType string }
			_ = json.Unmarshal(res.Payload, &doc)
			if strings.HasPrefix(doc.ErrorType, "Runtime.") || strings.HasPrefix(doc.ErrorType, "Sandbox.") {
				return ColdStart{}, fmt.Errorf("cold start %s: the environment failed: %s", function, res.Payload)
			}
			c.Refused = true
		}
	}
	return c, nil
}

// Close releases a Server that was never Run: its listeners, logs and any
// RIE it started. Run releases them itself when it returns.
func (s *Server) Close() {
	for _, r := range s.runners {
		r.mu.Lock()
		r.stop()
		r.mu.Unlock()
	}
	s.closeAll()
}
