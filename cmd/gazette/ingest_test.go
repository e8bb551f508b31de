package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const seedFixture = "../../internal/article/testdata/seed_financebrokerage.txt"

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestIngestDryRunJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "ingest", "--dry-run", "--json", seedFixture)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"id", "slug", "title", "summary", "paragraphs", "source", "author", "published", "url", "topics", "language", "words", "warnings"} {
		if _, ok := got[k]; !ok && k != "published" {
			t.Errorf("output lacks %q", k)
		}
	}
	if got["title"] != "Xi backs Putin requesting security assurances from the West" || got["source"] != "FinanceBrokerage" {
		t.Errorf("title %v source %v", got["title"], got["source"])
	}
	// Flags may follow the file name.
	code2, out2, _ := runCLI(t, "ingest", seedFixture, "--json", "--dry-run")
	if code2 != 0 || out2 != out {
		t.Errorf("flags after the file: exit %d, output differs", code2)
	}
}

func TestIngestDryRunText(t *testing.T) {
	code, out, errOut := runCLI(t, "ingest", "--dry-run", seedFixture)
	if code != 0 || !strings.Contains(out, "source:    FinanceBrokerage") || !strings.Contains(out, "Summary: ") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr: %s", code, out, errOut)
	}
}

func TestIngestRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chrome.txt")
	if err := os.WriteFile(path, []byte("Share\nTwitter\nFacebook\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "ingest", "--dry-run", "--json", path)
	if code != 1 || out != "" || !strings.Contains(errOut, "refused (no_title)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestIngestUsage(t *testing.T) {
	for name, args := range map[string][]string{
		"no file":     {"ingest", "--dry-run"},
		"two files":   {"ingest", "--dry-run", "a", "b"},
		"bad flag":    {"ingest", "--bogus", "a"},
		"not dry-run": {"ingest", "--json", seedFixture},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, errOut := runCLI(t, args...); code != 2 || errOut == "" {
				t.Errorf("exit %d, stderr %q; want 2 and a message", code, errOut)
			}
		})
	}
	code, _, errOut := runCLI(t, "ingest", "--dry-run", filepath.Join(t.TempDir(), "missing.txt"))
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "ingest", "--json", seedFixture); !strings.Contains(errOut, "aws s3 cp") {
		t.Errorf("without --dry-run: exit %d, stderr %q", code, errOut)
	}
}
