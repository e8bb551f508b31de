package mergetag

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestHermesOnlyWhereMailIsRendered keeps hermes (and premailer, sprig,
// goquery with it) out of the functions that do not render mail: the
// reason this package exists apart from digest. The functions that do
// render are the control: the check would see hermes if it were there.
func TestHermesOnlyWhereMailIsRendered(t *testing.T) {
	const hermes = "github.com/matcornic/hermes"
	tests := []struct {
		function string
		links    bool
	}{
		{function: "send-batch", links: false},
		{function: "ses-feedback", links: false},
		{function: "ingest-article", links: false},
		{function: "publish-digest", links: true},
		{function: "subscription-api", links: true},
	}
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			pkg := "github.com/gazette-news/gazette/functions/" + tt.function
			out, err := exec.Command("go", "list", "-deps", pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", pkg, err)
			}
			deps := strings.Fields(string(out))
			if got := slices.Contains(deps, hermes); got != tt.links {
				t.Errorf("%s links hermes: %v, want %v", tt.function, got, tt.links)
			}
		})
	}
}
