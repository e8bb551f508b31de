package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/gazette"
)

type memIssues struct {
	st      map[int]gazette.IssueState
	h       map[int]delivery.IssueHealth
	resumed []int
}

func (m *memIssues) Get(_ context.Context, n int) (gazette.IssueState, error) {
	st, ok := m.st[n]
	if !ok {
		return st, gazette.Errorf(gazette.KindNotFound, "no_issue", "issue %d not found", n)
	}
	return st, nil
}

func (m *memIssues) Health(_ context.Context, n int) (delivery.IssueHealth, error) {
	return m.h[n], nil
}

func (m *memIssues) Resume(_ context.Context, n int, _ time.Time) (delivery.IssueHealth, error) {
	h := m.h[n]
	m.resumed = append(m.resumed, n)
	nh := h
	nh.Paused, nh.PauseReason = false, ""
	m.h[n] = nh
	return h, nil
}

// fakeQueues is an SQS with visibility: received messages are hidden until
// deleted or released.
type fakeQueues struct {
	q       map[string][]sqstypes.Message // queue URL → messages
	hidden  map[string]bool               // receipt handle → hidden
	nextID  int
	sendErr error
}

func (f *fakeQueues) put(queue, body string) {
	f.nextID++
	id := strconv.Itoa(f.nextID)
	f.q[queue] = append(f.q[queue], sqstypes.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String(body)})
}

func (f *fakeQueues) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	var out []sqstypes.Message
	for _, m := range f.q[*in.QueueUrl] {
		if len(out) == int(in.MaxNumberOfMessages) {
			break
		}
		if !f.hidden[*m.ReceiptHandle] {
			f.hidden[*m.ReceiptHandle] = true
			out = append(out, m)
		}
	}
	return &sqs.ReceiveMessageOutput{Messages: out}, nil
}

func (f *fakeQueues) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if f.sendErr != nil {
		return nil, f.sendErr
	}
	for _, e := range in.Entries {
		f.put(*in.QueueUrl, *e.MessageBody)
	}
	return &sqs.SendMessageBatchOutput{}, nil
}

func (f *fakeQueues) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	for _, e := range in.Entries {
		msgs := f.q[*in.QueueUrl]
		for i, m := range msgs {
			if *m.ReceiptHandle == *e.ReceiptHandle {
				f.q[*in.QueueUrl] = append(msgs[:i:i], msgs[i+1:]...)
				break
			}
		}
	}
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func (f *fakeQueues) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	for _, e := range in.Entries {
		if e.VisibilityTimeout == 0 {
			delete(f.hidden, *e.ReceiptHandle)
		}
	}
	return &sqs.ChangeMessageVisibilityBatchOutput{}, nil
}

func (f *fakeQueues) batches(queue string) []string {
	var out []string
	for _, m := range f.q[queue] {
		var b gazette.SendBatch
		_ = json.Unmarshal([]byte(*m.Body), &b)
		out = append(out, fmt.Sprintf("%d/%d", b.Issue, b.Batch))
	}
	sort.Strings(out)
	return out
}

func batchBody(issue, batch int) string {
	b, _ := json.Marshal(gazette.SendBatch{Issue: issue, Batch: batch, Template: "t",
		Recipients: []gazette.Recipient{{SubscriberID: "x", Email: "x@example.com"}}})
	return string(b)
}

func withIssueBackend(t *testing.T, be *issueBackend) {
	t.Helper()
	old := newIssueBackend
	newIssueBackend = func(context.Context, string, string) (*issueBackend, error) { return be, nil }
	t.Cleanup(func() { newIssueBackend = old })
}

func TestIssueStatus(t *testing.T) {
	issues := &memIssues{
		st: map[int]gazette.IssueState{3: {Number: 3, Status: gazette.IssueEnqueued, Template: "gazette-issue-3", Recipients: 120}},
		h:  map[int]delivery.IssueHealth{3: {Send: 90, Delivery: 80, Bounce: 7, Complaint: 1, Paused: true, PauseReason: "bounce rate 7.78% (7 of 90) above 5.00%"}},
	}
	counts := map[string]int{"sent": 90, "failed": 2, "suppressed": 3, "claimed": 5, "retry": 10}
	be := &issueBackend{issues: issues, ledgerCount: func(context.Context, int) (map[string]int, error) { return counts, nil }}
	withIssueBackend(t, be)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // substrings of stdout
		wantErr  string   // substring of stderr
	}{
		{name: "table", args: []string{"status", "--issues-table", "I", "--ledger-table", "L", "3"},
			want: []string{"planned          120", "sent              90", "failed             2", "suppressed         3",
				"pending           25   (in flight 5, to retry 10, not reached 10)", "PAUSED by the reputation guard: bounce rate 7.78%",
				"gazette issue resume 3", "bounce 7, complaint 1"}},
		{name: "json", args: []string{"status", "--json", "--issues-table", "I", "--ledger-table", "L", "3"},
			want: []string{`"planned": 120`, `"pending": 25`, `"paused": true`}},
		{name: "unknown issue", args: []string{"status", "--issues-table", "I", "--ledger-table", "L", "4"}, wantCode: 1, wantErr: "issue 4 not found"},
		{name: "no table", args: []string{"status", "3"}, wantCode: 2, wantErr: "pass --issues-table or set ISSUES_TABLE"},
		{name: "not a number", args: []string{"status", "--issues-table", "I", "--ledger-table", "L", "three"}, wantCode: 2, wantErr: "not an issue number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ISSUES_TABLE", "")
			t.Setenv("LEDGER_TABLE", "")
			var out, errb bytes.Buffer
			if code := dispatch(context.Background(), append([]string{"issue"}, tt.args...), &out, &errb); code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.wantCode, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.wantErr)
			}
		})
	}
}

func TestIssueResume(t *testing.T) {
	tests := []struct {
		name      string
		dlq       [][2]int // issue, batch
		sendErr   error
		wantCode  int
		wantQueue []string
		wantDLQ   []string
	}{
		{name: "moves only the issue's batches, keeps the others visible",
			dlq:       [][2]int{{3, 1}, {2, 9}, {3, 4}, {3, 5}, {4, 1}, {3, 7}, {3, 8}, {3, 9}, {3, 10}, {3, 11}, {3, 12}, {3, 13}},
			wantQueue: []string{"3/1", "3/10", "3/11", "3/12", "3/13", "3/4", "3/5", "3/7", "3/8", "3/9"},
			wantDLQ:   []string{"2/9", "4/1"}},
		{name: "empty DLQ", wantQueue: nil, wantDLQ: nil},
		{name: "send queue down: nothing deleted from the DLQ", dlq: [][2]int{{3, 1}}, sendErr: fmt.Errorf("SQS down"),
			wantCode: 1, wantDLQ: []string{"3/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issues := &memIssues{h: map[int]delivery.IssueHealth{3: {Paused: true, PauseReason: "complaint rate"}}}
			q := &fakeQueues{q: map[string][]sqstypes.Message{}, hidden: map[string]bool{}, sendErr: tt.sendErr}
			for _, b := range tt.dlq {
				q.put("dlq", batchBody(b[0], b[1]))
			}
			withIssueBackend(t, &issueBackend{issues: issues, sqs: q})
			var out, errb bytes.Buffer
			code := dispatch(context.Background(), []string{"issue", "resume", "--issues-table", "I", "--queue", "send", "--dlq", "dlq", "3"}, &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.wantCode, errb.String())
			}
			if diff := cmp.Diff([]int{3}, issues.resumed); diff != "" {
				t.Errorf("resumed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantQueue, q.batches("send")); diff != "" {
				t.Errorf("send queue (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDLQ, q.batches("dlq")); diff != "" {
				t.Errorf("DLQ (-want +got):\n%s", diff)
			}
			for _, m := range q.q["dlq"] {
				if q.hidden[*m.ReceiptHandle] {
					t.Errorf("DLQ message %s left invisible", *m.MessageId)
				}
			}
			if tt.wantCode == 0 && !strings.Contains(out.String(), "issue 3 resumed (was paused: complaint rate)") {
				t.Errorf("stdout %q does not say the issue was resumed", out.String())
			}
		})
	}
}
