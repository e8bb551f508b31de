// Package eventstest loads the sample events in events/ for handler tests,
// the same files `sam local invoke -e` uses.
package eventstest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Load decodes events/<name> into a T (events.SQSEvent,
// events.APIGatewayV2HTTPRequest, json.RawMessage, …), failing the test if
// the file is missing or does not decode.
func Load[T any](t testing.TB, name string) T {
	t.Helper()
	var v T
	data, err := os.ReadFile(filepath.Join(dir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode events/%s: %v", name, err)
	}
	return v
}

// dir finds events/ beside the module's go.mod, from the test's directory up.
func dir(t testing.TB) string {
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "events")
		}
		parent := filepath.Dir(d)
		if parent == d {
			t.Fatal("eventstest: no go.mod above the test")
		}
		d = parent
	}
}
