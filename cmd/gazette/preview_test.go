package main

import (
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// previewSamples are editor files of several formats from the article
// package's fixtures.
var previewSamples = []string{
	"../../internal/article/testdata/seed_financebrokerage.txt",
	"../../internal/article/testdata/markdown_hugo.md",
	"../../internal/article/testdata/html_news.html",
}

func TestPreview(t *testing.T) {
	dir := t.TempDir()
	args := append([]string{"preview", "--out", dir, "--date", "2026-03-05T07:00:00Z", "--name", "Ada"}, previewSamples...)
	code, out, errOut := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	htmlPart, textPart := read("issue.html"), read("issue.txt")
	if !strings.Contains(out, "articles: 3") {
		t.Errorf("stdout %q does not report 3 articles", out)
	}
	for name, part := range map[string]string{"html": htmlPart, "text": textPart} {
		if strings.Contains(part, "{{") {
			t.Errorf("%s part still has placeholders", name)
		}
		if !strings.Contains(part, "Hi Ada,") {
			t.Errorf("%s part is not personalised", name)
		}
	}
	if !strings.Contains(htmlPart, `href="https://gazette.example/unsubscribe?token=preview"`) {
		t.Error("HTML lacks the sample unsubscribe link")
	}

	msg, err := mail.ReadMessage(strings.NewReader(read("issue.eml")))
	if err != nil {
		t.Fatal(err)
	}
	headers := []struct{ key, want string }{
		{"List-Unsubscribe", "<https://gazette.example/unsubscribe?token=preview>"},
		{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
		{"Mime-Version", "1.0"},
	}
	for _, h := range headers {
		t.Run("header "+h.key, func(t *testing.T) {
			if got := msg.Header.Get(h.key); got != h.want {
				t.Errorf("%s = %q, want %q", h.key, got, h.want)
			}
		})
	}
	if to, err := msg.Header.AddressList("To"); err != nil || to[0].Address != "ada@example.com" {
		t.Errorf("To = %v, %v", to, err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || !strings.HasPrefix(subject, "Gazette #1: ") {
		t.Errorf("Subject = %q, %v", subject, err)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q, %v", mediaType, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	wantParts := []struct{ contentType, body string }{
		{"text/plain; charset=utf-8", textPart},
		{"text/html; charset=utf-8", htmlPart},
	}
	for _, want := range wantParts {
		p, err := mr.NextRawPart()
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Header.Get("Content-Type"); got != want.contentType {
			t.Errorf("part type %q, want %q", got, want.contentType)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		if strings.ReplaceAll(string(body), "\r\n", "\n") != want.body {
			t.Errorf("%s part differs from the written file", want.contentType)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more than two parts: %v", err)
	}
}

func TestPreviewErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.txt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no files", []string{"preview"}, 2, "usage"},
		{"bad date", []string{"preview", "--date", "yesterday", previewSamples[0]}, 2, "--date"},
		{"only refused files", []string{"preview", "--out", t.TempDir(), empty}, 1, "refused"},
		{"missing file", []string{"preview", "--out", t.TempDir(), "does-not-exist.txt"}, 1, "nothing to render"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}
