package awsconfig

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// TestGuardRequestBodyKeepsConnections sends SendBulkEmail calls with
// bodies past net/http's 4 KB write buffer to a server that answers at
// once with a 6 KB reply, as SES does for 50 entries. Through the guard,
// every call succeeds on one kept-alive connection. The same calls through
// the SDK's own client are logged for comparison (-v): on this kind of
// machine they open a new connection every few dozen calls and now and
// then fail one; that is a race, so it is shown, not asserted.
func TestGuardRequestBodyKeepsConnections(t *testing.T) {
	const calls = 400
	conns, failed, firstErr := sendBulkCalls(t, HTTPClient(), calls)
	if failed > 0 {
		t.Errorf("%d of %d calls failed; first: %v", failed, calls, firstErr)
	}
	if conns != 1 {
		t.Errorf("%d connections for %d sequential calls, want 1", conns, calls)
	}
	conns, failed, firstErr = sendBulkCalls(t, awshttp.NewBuildableClient(), calls)
	t.Logf("without the guard: %d connections, %d of %d calls failed (first error: %v)", conns, failed, calls, firstErr)
}

// sendBulkCalls makes n SendBulkEmail calls through client to a fresh
// server and returns how many connections the server saw and how many
// calls failed.
func sendBulkCalls(t *testing.T, client aws.HTTPClient, n int) (conns int32, failed int, firstErr error) {
	t.Helper()
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(bulkReply))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := sesv2.NewFromConfig(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, HTTPClient: client,
	})
	in := bulkInput()
	for range n {
		out, err := c.SendBulkEmail(context.Background(), in)
		if err == nil && len(out.BulkEmailEntryResults) != len(in.BulkEmailEntries) {
			err = fmt.Errorf("%d results for %d entries", len(out.BulkEmailEntryResults), len(in.BulkEmailEntries))
		}
		if err != nil {
			if failed == 0 {
				firstErr = err
			}
			failed++
		}
	}
	return opened.Load(), failed, firstErr
}

// bulkReply reads the request to its end and answers every entry.
func bulkReply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := strings.Count(string(body), `"Destination"`)
	var b strings.Builder
	b.WriteString(`{"BulkEmailEntryResults":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Status":"SUCCESS","MessageId":"0100018c00000000-5a3e1f2b-7c4d-4e8f-9a0b-%012x-000000"}`, i)
	}
	b.WriteString(`]}`)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, b.String())
}

func bulkInput() *sesv2.SendBulkEmailInput {
	in := &sesv2.SendBulkEmailInput{
		FromEmailAddress: aws.String("newsletter@example.com"),
		DefaultContent:   &types.BulkEmailContent{Template: &types.Template{TemplateName: aws.String("issue-1")}},
	}
	for i := range 50 {
		url := fmt.Sprintf("https://news.example/unsubscribe?token=%064d", i)
		in.BulkEmailEntries = append(in.BulkEmailEntries, types.BulkEmailEntry{
			Destination: &types.Destination{ToAddresses: []string{fmt.Sprintf("reader%d@example.com", i)}},
			ReplacementEmailContent: &types.ReplacementEmailContent{ReplacementTemplate: &types.ReplacementTemplate{
				ReplacementTemplateData: aws.String(`{"unsubscribe_url":"` + url + `"}`)}},
			ReplacementHeaders: []types.MessageHeader{{Name: aws.String("List-Unsubscribe"), Value: aws.String("<" + url + ">")}},
		})
	}
	return in
}

// TestGuardRequestBodyHidesWriteTo checks the narrowing itself: what the
// next client gets has no WriteTo, still reads the body, and closes it.
func TestGuardRequestBodyHidesWriteTo(t *testing.T) {
	tests := []struct {
		name string
		body io.ReadCloser
		want string
	}{
		{name: "body with WriteTo", body: &writerToBody{Reader: strings.NewReader("payload")}, want: "payload"},
		{name: "no body", body: nil},
		{name: "http.NoBody", body: http.NoBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *http.Request
			c := GuardRequestBody(clientFunc(func(r *http.Request) (*http.Response, error) { got = r; return nil, nil }))
			req, err := http.NewRequest(http.MethodPost, "http://example.invalid/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Body = tt.body
			if _, err := c.Do(req); err != nil {
				t.Fatal(err)
			}
			if tt.body == nil || tt.body == http.NoBody {
				if got.Body != tt.body {
					t.Fatalf("body %T, want it untouched (%T)", got.Body, tt.body)
				}
				return
			}
			if _, ok := got.Body.(io.WriterTo); ok {
				t.Fatalf("body %T still has WriteTo", got.Body)
			}
			b, err := io.ReadAll(got.Body)
			if err != nil || string(b) != tt.want {
				t.Fatalf("read %q, %v; want %q", b, err, tt.want)
			}
			if err := got.Body.Close(); err != nil {
				t.Fatal(err)
			}
			if !tt.body.(*writerToBody).closed {
				t.Error("Close did not reach the original body")
			}
		})
	}
}

type clientFunc func(*http.Request) (*http.Response, error)

func (f clientFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

type writerToBody struct {
	*strings.Reader
	closed bool
}

func (b *writerToBody) Close() error { b.closed = true; return nil }
