package secrets

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{"plain key", "k1\n", []string{"k1"}, false},
		{"rotation", `{"current":"k2","previous":"k1"}`, []string{"k2", "k1"}, false},
		{"current only", `{"current":"k2"}`, []string{"k2"}, false},
		{"empty", "  ", nil, true},
		{"json without current", `{"previous":"k1"}`, nil, true},
		{"broken json", `{"current":`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parse() error = %v, wantErr %v", err, tt.wantErr)
			}
			var got []string
			for _, k := range keys {
				got = append(got, string(k))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse() keys (-want +got):\n%s", diff)
			}
		})
	}
}
