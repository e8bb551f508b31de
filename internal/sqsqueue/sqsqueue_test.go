package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeSQS refuses the entries whose body is in refuse, refuseTimes times each.
type fakeSQS struct {
	refuse  map[string]int
	calls   [][]string
	sent    []string
	callErr error
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if f.callErr != nil {
		return nil, f.callErr
	}
	var call []string
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		body := aws.ToString(e.MessageBody)
		call = append(call, body)
		if f.refuse[body] > 0 {
			f.refuse[body]--
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError")})
			continue
		}
		f.sent = append(f.sent, body)
	}
	f.calls = append(f.calls, call)
	return out, nil
}

func TestSendJSON(t *testing.T) {
	values := make([]any, 23)
	for i := range values {
		values[i] = i
	}
	tests := []struct {
		name      string
		refuse    map[string]int
		callErr   error
		wantCalls int
		wantSent  int
		wantErr   bool
	}{
		{"ten per call", nil, nil, 3, 23, false},
		{"refused entry is retried once", map[string]int{"4": 1}, nil, 4, 23, false},
		{"refused twice is an error", map[string]int{"4": 2}, nil, 2, 9, true},
		{"call error", nil, errors.New("down"), 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSQS{refuse: tt.refuse, callErr: tt.callErr}
			err := New(f, "https://sqs/q").SendJSON(context.Background(), values)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SendJSON() error = %v, wantErr %v", err, tt.wantErr)
			}
			if len(f.calls) != tt.wantCalls || len(f.sent) != tt.wantSent {
				t.Errorf("calls = %d, sent = %d; want %d and %d (%s)", len(f.calls), len(f.sent), tt.wantCalls, tt.wantSent, fmt.Sprint(f.calls))
			}
			for _, c := range f.calls {
				if len(c) > maxBatch {
					t.Errorf("a call carried %d entries, SQS takes %d", len(c), maxBatch)
				}
			}
		})
	}
}
