package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
)

func init() {
	commands["issue"] = command{
		summary: "an issue's delivery: issue status N | issue resume N",
		run:     runIssue,
	}
}

const issueUsage = `usage:
  gazette issue status [--json] [--issues-table T] [--ledger-table T] N
  gazette issue resume [--issues-table T] [--queue URL] [--dlq URL] N

status shows issue N's delivery: planned recipients (enqueued by publish),
sent, failed (rejected by SES for good), suppressed (skipped at send time
because they left or bounced after the issue was enqueued), pending (not yet
sent: in flight, to retry, or not reached), whether the reputation guard
paused it, and what SES feedback counted.

resume un-pauses issue N (the reputation guard then judges only the
feedback that arrives from now on) and moves every batch of issue N from
the send DLQ back to the send queue: batches the guard parked and batches
that failed maxReceiveCount times. Batches of other issues stay in the DLQ.
The ledger makes a re-driven batch skip whoever was sent already.

Names come from the flags or from $ISSUES_TABLE, $LEDGER_TABLE,
$SEND_QUEUE_URL and $SEND_DLQ_URL (the stack's outputs; locally see
out/stack/stack.json). AWS settings (region, credentials, AWS_ENDPOINT_URL
for the local stack) come from the environment.
`

// issueStore is what the issue command needs from the issues table.
type issueStore interface {
	Get(ctx context.Context, n int) (gazette.IssueState, error)
	Health(ctx context.Context, n int) (delivery.IssueHealth, error)
	Resume(ctx context.Context, n int, at time.Time) (delivery.IssueHealth, error)
}

// redriveAPI is the part of the SQS client resume uses.
type redriveAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// issueBackend connects the command to AWS; replaced in tests.
type issueBackend struct {
	issues      issueStore
	ledgerCount func(ctx context.Context, issue int) (map[string]int, error)
	sqs         redriveAPI
}

var newIssueBackend = func(ctx context.Context, issuesTable, ledgerTable string) (*issueBackend, error) {
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	return &issueBackend{
		issues: dynamo.NewIssues(db, issuesTable),
		ledgerCount: func(ctx context.Context, issue int) (map[string]int, error) {
			return dynamo.LedgerCounts(ctx, db, ledgerTable, issue)
		},
		sqs: sqs.NewFromConfig(cfg),
	}, nil
}

func runIssue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, args, code, ok := subcommand(args, issueUsage, stderr)
	if !ok {
		return code
	}
	fs := flag.NewFlagSet("issue "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, issueUsage) }
	issuesTable := fs.String("issues-table", os.Getenv("ISSUES_TABLE"), "issues table name")
	ledgerTable := fs.String("ledger-table", os.Getenv("LEDGER_TABLE"), "ledger table name")
	queue := fs.String("queue", os.Getenv("SEND_QUEUE_URL"), "send queue URL")
	dlq := fs.String("dlq", os.Getenv("SEND_DLQ_URL"), "send DLQ URL")
	asJSON := fs.Bool("json", false, "status as JSON")
	if sub != "status" && sub != "resume" {
		fmt.Fprintf(stderr, "gazette issue: unknown subcommand %q\n\n%s", sub, issueUsage)
		return 2
	}
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	n, err := strconv.Atoi(fs.Arg(0))
	if err != nil || n < 1 {
		fmt.Fprintf(stderr, "gazette issue %s: %q is not an issue number\n", sub, fs.Arg(0))
		return 2
	}
	missing := map[string]string{}
	if *issuesTable == "" {
		missing["--issues-table"] = "ISSUES_TABLE"
	}
	if sub == "status" && *ledgerTable == "" {
		missing["--ledger-table"] = "LEDGER_TABLE"
	}
	if sub == "resume" && *queue == "" {
		missing["--queue"] = "SEND_QUEUE_URL"
	}
	if sub == "resume" && *dlq == "" {
		missing["--dlq"] = "SEND_DLQ_URL"
	}
	for f, env := range missing {
		fmt.Fprintf(stderr, "gazette issue %s: pass %s or set %s\n", sub, f, env)
	}
	if len(missing) > 0 {
		return 2
	}
	be, err := newIssueBackend(ctx, *issuesTable, *ledgerTable)
	if err != nil {
		fmt.Fprintf(stderr, "gazette issue %s: %v\n", sub, err)
		return 1
	}
	if sub == "status" {
		st, err := issueStatus(ctx, be, n)
		if err != nil {
			fmt.Fprintf(stderr, "gazette issue status: %v\n", err)
			return 1
		}
		if *asJSON {
			b, _ := json.MarshalIndent(st, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			st.print(stdout)
		}
		return 0
	}
	if err := issueResume(ctx, be, n, *queue, *dlq, stdout); err != nil {
		fmt.Fprintf(stderr, "gazette issue resume: %v\n", err)
		return 1
	}
	return 0
}

// IssueStatus is what `gazette issue status` reports.
type IssueStatus struct {
	Issue      int    `json:"issue"`
	Status     string `json:"status"`
	Template   string `json:"template,omitempty"`
	Planned    int    `json:"planned"`
	Sent       int    `json:"sent"`
	Failed     int    `json:"failed"`
	Suppressed int    `json:"suppressed"`
	Pending    int    `json:"pending"`
	// The pending ones the ledger knows: claimed by a running send, or
	// released for a retry. The rest were not reached yet.
	InFlight    int            `json:"inFlight"`
	Retry       int            `json:"retry"`
	Paused      bool           `json:"paused"`
	PauseReason string         `json:"pauseReason,omitempty"`
	Feedback    map[string]int `json:"feedback"`
}

func issueStatus(ctx context.Context, be *issueBackend, n int) (IssueStatus, error) {
	st, err := be.issues.Get(ctx, n)
	if err != nil {
		return IssueStatus{}, err
	}
	h, err := be.issues.Health(ctx, n)
	if err != nil {
		return IssueStatus{}, err
	}
	counts, err := be.ledgerCount(ctx, n)
	if err != nil {
		return IssueStatus{}, err
	}
	out := IssueStatus{
		Issue: n, Status: string(st.Status), Template: st.Template, Planned: st.Recipients,
		Sent: counts["sent"], Failed: counts["failed"], Suppressed: counts["suppressed"],
		InFlight: counts["claimed"], Retry: counts["retry"],
		Paused: h.Paused, PauseReason: h.PauseReason,
		Feedback: map[string]int{"send": h.Send, "delivery": h.Delivery, "bounce": h.Bounce, "complaint": h.Complaint},
	}
	// A re-enqueued page can make the ledger know a recipient twice over
	// planned only if publish recounted; never report negative pending.
	out.Pending = max(0, out.Planned-out.Sent-out.Failed-out.Suppressed)
	return out, nil
}

func (s IssueStatus) print(w io.Writer) {
	fmt.Fprintf(w, "issue %d (%s, template %s)\n", s.Issue, s.Status, s.Template)
	fmt.Fprintf(w, "  %-11s %8d\n", "planned", s.Planned)
	fmt.Fprintf(w, "  %-11s %8d\n", "sent", s.Sent)
	fmt.Fprintf(w, "  %-11s %8d\n", "failed", s.Failed)
	fmt.Fprintf(w, "  %-11s %8d\n", "suppressed", s.Suppressed)
	fmt.Fprintf(w, "  %-11s %8d   (in flight %d, to retry %d, not reached %d)\n", "pending", s.Pending,
		s.InFlight, s.Retry, max(0, s.Pending-s.InFlight-s.Retry))
	if s.Paused {
		fmt.Fprintf(w, "  PAUSED by the reputation guard: %s\n  resume with: gazette issue resume %d\n", s.PauseReason, s.Issue)
	} else {
		fmt.Fprintln(w, "  not paused")
	}
	fmt.Fprintf(w, "  feedback    send %d, delivery %d, bounce %d, complaint %d\n",
		s.Feedback["send"], s.Feedback["delivery"], s.Feedback["bounce"], s.Feedback["complaint"])
}

// redriveVisibility hides the DLQ messages resume has looked at while it
// scans the rest; those of other issues are made visible again at the end.
const redriveVisibility = 120

func issueResume(ctx context.Context, be *issueBackend, n int, queue, dlq string, stdout io.Writer) error {
	// Un-pause first, or the re-driven batches would be parked again.
	h, err := be.issues.Resume(ctx, n, time.Now())
	if err != nil {
		return err
	}
	if h.Paused {
		fmt.Fprintf(stdout, "issue %d resumed (was paused: %s)\n", n, h.PauseReason)
	} else {
		fmt.Fprintf(stdout, "issue %d was not paused\n", n)
	}
	moved, kept, err := redrive(ctx, be.sqs, n, queue, dlq)
	fmt.Fprintf(stdout, "re-drove %d batches of issue %d from the DLQ to the send queue; %d batches of other issues left in the DLQ\n", moved, n, kept)
	return err
}

// redrive moves every DLQ message whose batch belongs to issue n to the send
// queue (body only; the parking attributes stay behind) and deletes it from
// the DLQ only once it is on the send queue. Other messages are left, made
// visible again at the end.
func redrive(ctx context.Context, api redriveAPI, n int, queue, dlq string) (moved, kept int, err error) {
	var others, unsent []sqstypes.Message
	defer func() {
		// Let the other issues' batches, and any of ours that could not be
		// moved, be seen again at once.
		release := append(others, unsent...)
		for start := 0; start < len(release); start += 10 {
			var entries []sqstypes.ChangeMessageVisibilityBatchRequestEntry
			for i, m := range release[start:min(start+10, len(release))] {
				entries = append(entries, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
					Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
				})
			}
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, cerr := api.ChangeMessageVisibilityBatch(cctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(dlq), Entries: entries})
			cancel()
			if cerr != nil && err == nil {
				err = fmt.Errorf("release other issues' batches in the DLQ (they reappear after %d s): %w", redriveVisibility, cerr)
			}
		}
	}()
	for {
		out, rerr := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			VisibilityTimeout: redriveVisibility,
		})
		if rerr != nil {
			return moved, len(others), fmt.Errorf("read DLQ: %w", rerr)
		}
		if len(out.Messages) == 0 {
			return moved, len(others), nil
		}
		var mine []sqstypes.Message
		for _, m := range out.Messages {
			var b gazette.SendBatch
			if json.Unmarshal([]byte(aws.ToString(m.Body)), &b) == nil && b.Issue == n {
				mine = append(mine, m)
			} else {
				others = append(others, m)
			}
		}
		if len(mine) == 0 {
			continue
		}
		send := make([]sqstypes.SendMessageBatchRequestEntry, len(mine))
		for i, m := range mine {
			send[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body}
		}
		sout, serr := api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queue), Entries: send})
		if serr != nil {
			unsent = append(unsent, mine...)
			return moved, len(others), fmt.Errorf("send to the send queue: %w", serr)
		}
		failed := map[string]bool{}
		for _, f := range sout.Failed {
			failed[aws.ToString(f.Id)] = true
		}
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range mine {
			if failed[strconv.Itoa(i)] {
				unsent = append(unsent, m)
			} else {
				del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
			}
		}
		if len(del) > 0 {
			if _, derr := api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(dlq), Entries: del}); derr != nil {
				// Sent but not deleted: it comes back to the DLQ's view and a
				// second resume sends it again, which the ledger makes harmless.
				return moved, len(others), fmt.Errorf("delete re-driven batches from the DLQ: %w", derr)
			}
		}
		moved += len(del)
		if len(failed) > 0 {
			return moved, len(others), fmt.Errorf("%d batches refused by the send queue; they stay in the DLQ", len(failed))
		}
	}
}
