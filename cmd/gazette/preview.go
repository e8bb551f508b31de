package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gazette-news/gazette/internal/article"
	"github.com/gazette-news/gazette/internal/digest"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/mergetag"
)

func init() {
	commands["preview"] = command{
		summary: "render an issue from local article files: preview [--out DIR] FILE...",
		run:     runPreview,
	}
}

// runPreview implements `gazette preview [--out DIR] FILE...`: it parses the
// files as ingest-article would, builds issue #1 dated now, renders it the
// way publish-digest does (once, with placeholders), personalises it for a
// sample recipient the way SES would, and writes DIR/issue.html,
// DIR/issue.txt and DIR/issue.eml. Refused files are reported and skipped.
// Exit 0 on success, 1 when nothing could be rendered, 2 on usage errors.
func runPreview(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("preview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "out", "directory to write issue.html, issue.txt and issue.eml to")
	brandName := fs.String("brand", "Gazette", "publication name")
	site := fs.String("site", "https://gazette.example", "public base URL (archive, unsubscribe and preferences links)")
	name := fs.String("name", "Ada Lovelace", "sample recipient's name")
	to := fs.String("to", "ada@example.com", "sample recipient's address")
	from := fs.String("from", "news@gazette.example", "sender address")
	address := fs.String("address", "Gazette News Ltd, 1 Example Street, Springfield 12345", "postal address for the footer")
	number := fs.Int("number", 1, "issue number")
	date := fs.String("date", "", "issue date, RFC 3339 (default now)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gazette preview [--out DIR] [flags] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	when := time.Now()
	if *date != "" {
		t, err := time.Parse(time.RFC3339, *date)
		if err != nil {
			fmt.Fprintf(stderr, "gazette preview: --date: %v\n", err)
			return 2
		}
		when = t
	}

	issue := gazette.Issue{Number: *number, Date: when}
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "gazette preview: %v\n", err)
			continue
		}
		a, err := article.Parse(filepath.Base(path), data, article.Options{})
		if err != nil {
			fmt.Fprintf(stderr, "gazette preview: %s refused: %v\n", path, err)
			continue
		}
		issue.Articles = append(issue.Articles, a)
	}
	if len(issue.Articles) == 0 {
		fmt.Fprintln(stderr, "gazette preview: no article could be read; nothing to render")
		return 1
	}

	base := strings.TrimRight(*site, "/")
	brand := digest.Brand{Name: *brandName, Link: base, PostalAddress: *address}
	links := digest.Links{ArchiveBase: base + "/archive", Subscribe: base + "/subscribe"}
	issue.ArchiveURL = links.IssueURL(issue.Number)
	tmpl, err := digest.Render(issue, brand, links, digest.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "gazette preview: %v\n", err)
		return 1
	}
	// Sample links only: real ones carry an HMAC-signed token per subscriber.
	unsubscribe := base + "/unsubscribe?token=preview"
	mailMsg := mergetag.Personalize(tmpl, mergetag.RecipientData(*name, unsubscribe, base+"/preferences?token=preview"))
	eml, err := buildEML(mailMsg, mail.Address{Name: *brandName, Address: *from}, mail.Address{Name: *name, Address: *to}, unsubscribe, when)
	if err != nil {
		fmt.Fprintf(stderr, "gazette preview: %v\n", err)
		return 1
	}

	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "gazette preview: %v\n", err)
		return 1
	}
	files := []struct {
		name string
		data []byte
	}{
		{"issue.html", []byte(mailMsg.HTML)},
		{"issue.txt", []byte(mailMsg.Text)},
		{"issue.eml", eml},
	}
	for _, f := range files {
		p := filepath.Join(*out, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			fmt.Fprintf(stderr, "gazette preview: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", p, len(f.data))
	}
	fmt.Fprintf(stdout, "subject: %s\narticles: %d\n", mailMsg.Subject, len(issue.Articles))
	return 0
}

// buildEML writes e as a MIME multipart/alternative message (RFC 2046)
// with the one-click unsubscribe headers of RFC 2369 and RFC 8058, as
// send-batch asks SES to add them. Text comes first: clients show the last
// part they understand.
func buildEML(e mergetag.Email, from, to mail.Address, unsubscribeURL string, date time.Time) ([]byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ contentType, content string }{
		{"text/plain; charset=utf-8", e.Text},
		{"text/html; charset=utf-8", e.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := io.WriteString(qp, part.content); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	domain := "gazette.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		domain = d
	}
	if strings.ContainsAny(unsubscribeURL, "<>\r\n") {
		return nil, errors.New("unsubscribe URL cannot go into a header")
	}
	headers := []struct{ k, v string }{
		{"From", from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", e.Subject)},
		{"Date", date.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id) + ".preview@" + domain + ">"},
		{"List-ID", mime.QEncoding.Encode("utf-8", from.Name) + " <newsletter." + domain + ">"},
		{"List-Unsubscribe", "<" + unsubscribeURL + ">"},
		{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
		{"MIME-Version", "1.0"},
		{"Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()})},
	}
	var msg bytes.Buffer
	for _, h := range headers {
		fmt.Fprintf(&msg, "%s: %s\r\n", h.k, h.v)
	}
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}
