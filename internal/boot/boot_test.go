package boot

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnv(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "2"}
	getenv := func(k string) string { return vars[k] }
	got, err := Env(getenv, "A", "B")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"A": "1", "B": "2"}, got); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	_, err = Env(getenv, "A", "C", "D")
	if err == nil || err.Error() != "environment: C, D must be set" {
		t.Errorf("Env with missing variables: error = %v, want both named", err)
	}
}
