package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/gazette-news/gazette/internal/localstack"
	"github.com/gazette-news/gazette/internal/scenario"
)

func init() {
	commands["demo"] = command{
		summary: "run the whole pipeline on the local stack (make demo starts it)",
		run:     runDemo,
	}
}

// demoPeople are the readers the demo subscribes. Their addresses get the
// run's timestamp, so a second demo on a kept stack signs up new people.
var demoPeople = []scenario.Person{
	{Name: "Ada", Email: "ada+%s@example.com"},
	{Name: "Grace", Email: "grace+%s@example.com"},
	{Name: "Katherine", Email: "katherine+%s@example.com"},
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "repository root (where out/stack/stack.json is)")
	samples := fs.String("samples", "infra/samples", "folder of articles to upload")
	out := fs.String("out", "out/mail", "where to write one delivered mail's HTML and text")
	keep := fs.Bool("keep", false, "say how to reach and stop the stack that stays up")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	st, err := localstack.Discover(*root)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	bucket, err := st.BucketName("ArticlesBucket")
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	run := time.Now().UTC().Format("20060102t150405")
	people := make([]scenario.Person, len(demoPeople))
	for i, p := range demoPeople {
		people[i] = scenario.Person{Name: p.Name, Email: fmt.Sprintf(p.Email, run)}
	}
	sum, err := scenario.Run(ctx, scenario.Config{
		Stack: st, S3: st.Clients().S3, Bucket: bucket,
		APIURL: st.Endpoints.HTTPAPI, Mailbox: scenario.Mailbox{URL: st.Endpoints.SESv2},
		Samples: filepath.Join(*root, *samples), Prefix: "demo-" + run + "/",
		People: people, Out: filepath.Join(*root, *out), Log: stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	printSummary(stdout, sum, st, *keep)
	// Every reader must get the issue exactly once.
	got := map[string]int{}
	for _, d := range sum.Deliveries {
		got[d.Email]++
	}
	code := 0
	for _, p := range people {
		if got[p.Email] != 1 {
			fmt.Fprintf(stderr, "demo: %s got %d issue mails, want 1\n", p.Email, got[p.Email])
			code = 1
		}
	}
	return code
}

func printSummary(w io.Writer, sum scenario.Summary, st *localstack.Stack, keep bool) {
	fmt.Fprintf(w, "\nGazette demo\n")
	fmt.Fprintf(w, "  issue        #%d  %q\n", sum.Issue, sum.Subject)
	fmt.Fprintf(w, "  articles     %d in the issue, %d files uploaded\n", sum.Articles, len(sum.Uploaded))
	for _, t := range sum.Titles {
		fmt.Fprintf(w, "               - %s\n", t)
	}
	for _, r := range sum.Rejected {
		fmt.Fprintf(w, "  rejected     %s: %s [%s] (reason in %s.reason.json)\n", r.Key, r.Reason, r.Code, r.Key)
	}
	fmt.Fprintf(w, "  recipients   %d confirmed through their confirmation mail\n", sum.Confirmations)
	for _, d := range sum.Deliveries {
		fmt.Fprintf(w, "  delivered    %-40s SES message %s\n", d.Email, d.MessageID)
	}
	for _, f := range sum.OutFiles {
		fmt.Fprintf(w, "  mail         %s\n", f)
	}
	if keep {
		fmt.Fprintf(w, "  mail web UI  %s (stack left running; stop it with: make stack-down)\n", st.Endpoints.SESv2)
		fmt.Fprintf(w, "  HTTP API     %s\n", st.Endpoints.HTTPAPI)
	} else {
		fmt.Fprintf(w, "  mail web UI  %s while the stack runs: make demo KEEP=1\n", st.Endpoints.SESv2)
	}
}
