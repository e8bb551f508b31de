package sesmail

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/gazette"
)

// fakeSES answers with canned results and records the inputs.
type fakeSES struct {
	API
	bulkIn    *sesv2.SendBulkEmailInput
	bulkOut   *sesv2.SendBulkEmailOutput
	err       error
	created   []string
	updated   []string
	createErr error
}

func (f *fakeSES) SendBulkEmail(_ context.Context, in *sesv2.SendBulkEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendBulkEmailOutput, error) {
	f.bulkIn = in
	return f.bulkOut, f.err
}

func (f *fakeSES) CreateEmailTemplate(_ context.Context, in *sesv2.CreateEmailTemplateInput, _ ...func(*sesv2.Options)) (*sesv2.CreateEmailTemplateOutput, error) {
	f.created = append(f.created, aws.ToString(in.TemplateName))
	return &sesv2.CreateEmailTemplateOutput{}, f.createErr
}

func (f *fakeSES) UpdateEmailTemplate(_ context.Context, in *sesv2.UpdateEmailTemplateInput, _ ...func(*sesv2.Options)) (*sesv2.UpdateEmailTemplateOutput, error) {
	f.updated = append(f.updated, aws.ToString(in.TemplateName))
	return &sesv2.UpdateEmailTemplateOutput{}, nil
}

func TestSendBulk(t *testing.T) {
	f := &fakeSES{bulkOut: &sesv2.SendBulkEmailOutput{BulkEmailEntryResults: []types.BulkEmailEntryResult{
		{Status: types.BulkEmailStatusSuccess, MessageId: aws.String("m1")},
		{Status: types.BulkEmailStatusAccountThrottled, Error: aws.String("slow down")},
		{Status: types.BulkEmailStatusMessageRejected, Error: aws.String("rejected")},
		{Status: types.BulkEmailStatusTemplateNotFound, Error: aws.String("no template")},
		{Status: types.BulkEmailStatusTransientFailure, Error: aws.String("try again")},
	}}}
	b := Bulk{From: "news@example.com", Template: "gazette-issue-1", ConfigurationSet: "cs", Tags: map[string]string{"issue": "1"}}
	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"} {
		b.Entries = append(b.Entries, BulkEntry{To: to, Data: map[string]string{"name": "A"},
			Headers: []Header{{Name: "List-Unsubscribe", Value: "<https://x/u>"}}})
	}
	res, err := New(f).SendBulk(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	wantKinds := []gazette.Kind{0, gazette.KindThrottled, gazette.KindInvalid, gazette.KindPermanent, gazette.KindUnknown}
	for i, r := range res {
		if i == 0 {
			if r.Err != nil || r.MessageID != "m1" {
				t.Errorf("entry 0 = %+v, want success m1", r)
			}
			continue
		}
		if r.Err == nil || gazette.KindOf(r.Err) != wantKinds[i] {
			t.Errorf("entry %d error = %v (kind %v), want kind %v", i, r.Err, gazette.KindOf(r.Err), wantKinds[i])
		}
	}
	in := f.bulkIn
	if aws.ToString(in.ConfigurationSetName) != "cs" || aws.ToString(in.DefaultContent.Template.TemplateName) != "gazette-issue-1" {
		t.Errorf("input = %+v", in)
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(in.BulkEmailEntries[0].ReplacementEmailContent.ReplacementTemplate.ReplacementTemplateData)), &data); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"name": "A"}, data); diff != "" {
		t.Errorf("replacement data (-want +got):\n%s", diff)
	}
	if h := in.BulkEmailEntries[0].ReplacementHeaders; len(h) != 1 || aws.ToString(h[0].Name) != "List-Unsubscribe" {
		t.Errorf("replacement headers = %+v", h)
	}
}

func TestSendBulkWholeCallErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		out  *sesv2.SendBulkEmailOutput
		want gazette.Kind
	}{
		{"throttled", &smithy.GenericAPIError{Code: "TooManyRequestsException"}, nil, gazette.KindThrottled},
		{"sending paused", &smithy.GenericAPIError{Code: "SendingPausedException"}, nil, gazette.KindPermanent},
		{"outage", errors.New("connection reset"), nil, gazette.KindUnknown},
		{"missing results", nil, &sesv2.SendBulkEmailOutput{}, gazette.KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSES{err: tt.err, bulkOut: tt.out}
			_, err := New(f).SendBulk(context.Background(), Bulk{Entries: []BulkEntry{{To: "a@example.com"}}})
			if err == nil || gazette.KindOf(err) != tt.want {
				t.Errorf("SendBulk() error = %v (kind %v), want kind %v", err, gazette.KindOf(err), tt.want)
			}
		})
	}
}

func TestPutTemplateCreatesOrUpdates(t *testing.T) {
	f := &fakeSES{}
	c := New(f)
	if err := c.PutTemplate(context.Background(), Template{Name: "t1"}); err != nil {
		t.Fatal(err)
	}
	f.createErr = &types.AlreadyExistsException{Message: aws.String("exists")}
	if err := c.PutTemplate(context.Background(), Template{Name: "t1"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"t1", "t1"}, f.created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"t1"}, f.updated); diff != "" {
		t.Errorf("updated (-want +got):\n%s", diff)
	}
}

// TestBulkSenderSharedHeaders: the call's shared headers go once as
// template defaults; each message's own headers stay on its entry.
func TestBulkSenderSharedHeaders(t *testing.T) {
	post := delivery.Header{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}
	unsub := func(id string) delivery.Header {
		return delivery.Header{Name: "List-Unsubscribe", Value: "<https://x/u?t=" + id + ">"}
	}
	tests := []struct {
		name        string
		shared      []delivery.Header
		msgs        []delivery.Message
		wantDefault []string
		wantEntry   [][]string
	}{
		{
			name:   "shared one-click header as a template default",
			shared: []delivery.Header{post},
			msgs: []delivery.Message{
				{To: "a@example.com", Headers: []delivery.Header{unsub("a")}},
				{To: "b@example.com", Headers: []delivery.Header{unsub("b")}},
			},
			wantDefault: []string{"List-Unsubscribe-Post"},
			wantEntry:   [][]string{{"List-Unsubscribe"}, {"List-Unsubscribe"}},
		},
		{
			name:      "nothing shared: entries keep all their headers",
			msgs:      []delivery.Message{{To: "a@example.com", Headers: []delivery.Header{unsub("a"), post}}},
			wantEntry: [][]string{{"List-Unsubscribe", "List-Unsubscribe-Post"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var results []types.BulkEmailEntryResult
			for range tt.msgs {
				results = append(results, types.BulkEmailEntryResult{Status: types.BulkEmailStatusSuccess, MessageId: aws.String("m")})
			}
			f := &fakeSES{bulkOut: &sesv2.SendBulkEmailOutput{BulkEmailEntryResults: results}}
			if _, err := (BulkSender{Client: New(f), From: "news@example.com"}).SendBulk(context.Background(), "t", nil, tt.shared, tt.msgs); err != nil {
				t.Fatal(err)
			}
			names := func(hs []types.MessageHeader) []string {
				var out []string
				for _, h := range hs {
					out = append(out, aws.ToString(h.Name))
				}
				return out
			}
			if diff := cmp.Diff(tt.wantDefault, names(f.bulkIn.DefaultContent.Template.Headers)); diff != "" {
				t.Errorf("default headers (-want +got):\n%s", diff)
			}
			var entries [][]string
			for _, e := range f.bulkIn.BulkEmailEntries {
				entries = append(entries, names(e.ReplacementHeaders))
			}
			if diff := cmp.Diff(tt.wantEntry, entries); diff != "" {
				t.Errorf("entry headers (-want +got):\n%s", diff)
			}
		})
	}
}
