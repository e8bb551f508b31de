package localstack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRouteMatching(t *testing.T) {
	routes := []route{
		newRoute(HTTPRoute{Method: "ANY", Path: "/{proxy+}"}, nil),
		newRoute(HTTPRoute{Method: "GET", Path: "/items/{id}"}, nil),
		newRoute(HTTPRoute{Method: "POST", Path: "/subscribe"}, nil),
		newRoute(HTTPRoute{Method: "GET", Path: "/items/special"}, nil),
	}
	sortRoutes(routes)
	tests := []struct {
		name, method, path, wantKey string
		wantParams                  map[string]string
	}{
		{"literal", "POST", "/subscribe", "POST /subscribe", nil},
		{"literal beats parameter", "GET", "/items/special", "GET /items/special", nil},
		{"parameter", "GET", "/items/42", "GET /items/{id}", map[string]string{"id": "42"}},
		{"method mismatch falls to greedy", "GET", "/subscribe", "ANY /{proxy+}", map[string]string{"proxy": "subscribe"}},
		{"greedy takes the rest", "DELETE", "/a/b/c", "ANY /{proxy+}", map[string]string{"proxy": "a/b/c"}},
		{"trailing slash", "POST", "/subscribe/", "POST /subscribe", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rt := range routes {
				if params, ok := rt.match(tt.method, tt.path); ok {
					if rt.key != tt.wantKey {
						t.Fatalf("matched %q, want %q", rt.key, tt.wantKey)
					}
					if diff := cmp.Diff(tt.wantParams, params); diff != "" {
						t.Errorf("params (-want +got):\n%s", diff)
					}
					return
				}
			}
			t.Fatalf("no route matched, want %q", tt.wantKey)
		})
	}
	if _, ok := newRoute(HTTPRoute{Method: "GET", Path: "/x"}, nil).match("GET", "/y"); ok {
		t.Error("GET /x matched /y")
	}
}

func TestHTTPEventFor(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:3000/subscribe?topic=a&topic=b", strings.NewReader("email=x%40example.com"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", "a=1; b=2")
	req.Header.Add("Accept", "text/html")
	req.Header.Add("Accept", "application/json")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := HTTPEventFor(req, []byte("email=x%40example.com"), "POST /subscribe", nil, "123456789012", "api", now)
	checks := map[string][2]string{
		"version":           {ev.Version, "2.0"},
		"routeKey":          {ev.RouteKey, "POST /subscribe"},
		"rawQueryString":    {ev.RawQueryString, "topic=a&topic=b"},
		"query topic":       {ev.QueryStringParameters["topic"], "a,b"},
		"accept joined":     {ev.Headers["accept"], "text/html,application/json"},
		"x-forwarded-proto": {ev.Headers["x-forwarded-proto"], "http"},
		"host":              {ev.Headers["host"], "127.0.0.1:3000"},
		"domainName":        {ev.RequestContext.DomainName, "127.0.0.1:3000"},
		"stage":             {ev.RequestContext.Stage, "$default"},
		"time":              {ev.RequestContext.Time, "02/Jan/2026:03:04:05 +0000"},
		"body as text":      {ev.Body, "email=x%40example.com"},
		"no cookie header":  {ev.Headers["cookie"], ""},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if diff := cmp.Diff([]string{"a=1", "b=2"}, ev.Cookies); diff != "" {
		t.Errorf("cookies (-want +got):\n%s", diff)
	}
	if ev.IsBase64Encoded {
		t.Error("form body was base64-encoded")
	}
	bin := HTTPEventFor(httptest.NewRequest(http.MethodPost, "/x", nil), []byte{0, 1, 2}, "POST /x", nil, "a", "b", now)
	if !bin.IsBase64Encoded || bin.Body != "AAEC" {
		t.Errorf("binary body = %q (base64 %v), want AAEC base64", bin.Body, bin.IsBase64Encoded)
	}
}

func TestWriteHTTPResponse(t *testing.T) {
	tests := []struct {
		name, payload string
		status        int
		body          string
		headers       map[string][]string
	}{
		{"full response", `{"statusCode":303,"headers":{"Location":"/done"},"multiValueHeaders":{"X-A":["1","2"]},"cookies":["c=1"],"body":"moved"}`,
			303, "moved", map[string][]string{"Location": {"/done"}, "X-A": {"1", "2"}, "Set-Cookie": {"c=1"}}},
		{"base64 body", `{"statusCode":200,"body":"aGk=","isBase64Encoded":true}`, 200, "hi", nil},
		{"bare JSON is the body", `{"ok":true}`, 200, `{"ok":true}`, map[string][]string{"Content-Type": {"application/json"}}},
		{"bare string", `"hello"`, 200, `"hello"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteHTTPResponse(w, []byte(tt.payload))
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tt.status, tt.body)
			}
			for k, want := range tt.headers {
				if diff := cmp.Diff(want, w.Header().Values(k)); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func TestFailedItems(t *testing.T) {
	ids := []string{"a", "b", "c"}
	all := map[string]bool{"a": true, "b": true, "c": true}
	tests := []struct {
		name     string
		payload  string
		fnErr    bool
		report   bool
		expected map[string]bool
	}{
		{"success", `null`, false, true, map[string]bool{}},
		{"empty list", `{"batchItemFailures":[]}`, false, true, map[string]bool{}},
		{"one failure", `{"batchItemFailures":[{"itemIdentifier":"b"}]}`, false, true, map[string]bool{"b": true}},
		{"function error fails all", `{"errorMessage":"x"}`, true, true, all},
		{"unknown id fails all", `{"batchItemFailures":[{"itemIdentifier":"zz"}]}`, false, true, all},
		{"empty id fails all", `{"batchItemFailures":[{"itemIdentifier":""}]}`, false, true, all},
		{"invalid JSON fails all", `not json`, false, true, all},
		{"response ignored without ReportBatchItemFailures", `{"batchItemFailures":[{"itemIdentifier":"b"}]}`, false, false, map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FailedItems(ids, []byte(tt.payload), tt.fnErr, tt.report)
			if diff := cmp.Diff(tt.expected, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitRIEOutput(t *testing.T) {
	in := strings.Join([]string{
		`START RequestId: 1 Version: $LATEST`,
		`{"level":"INFO","msg":"hello"}`,
		`{"level":"INFO","msg":"no newline"}END RequestId: 1`,
		`REPORT RequestId: 1	Duration: 1.00 ms`,
		`plain function line`,
	}, "\n") + "\n"
	var fn, rie strings.Builder
	splitRIEOutput(strings.NewReader(in), &fn, &rie)
	wantFn := "{\"level\":\"INFO\",\"msg\":\"hello\"}\n{\"level\":\"INFO\",\"msg\":\"no newline\"}\nplain function line\n"
	wantRIE := "START RequestId: 1 Version: $LATEST\nEND RequestId: 1\nREPORT RequestId: 1\tDuration: 1.00 ms\n"
	if diff := cmp.Diff(wantFn, fn.String()); diff != "" {
		t.Errorf("function log (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantRIE, rie.String()); diff != "" {
		t.Errorf("rie log (-want +got):\n%s", diff)
	}
}

func TestIsErrorDocument(t *testing.T) {
	for doc, want := range map[string]bool{
		`{"errorMessage":"x","errorType":"y"}`:                    true,
		`{"errorMessage":"x","errorType":"y","stackTrace":[]}`:    true,
		`{"errorMessage":"x","statusCode":200}`:                   false,
		`{"batchItemFailures":[]}`:                                false,
		`"errorMessage"`:                                          false,
		`{"statusCode":500,"body":"{\"errorMessage\":\"oops\"}"}`: false,
	} {
		if got := isErrorDocument([]byte(doc)); got != want {
			t.Errorf("isErrorDocument(%s) = %v, want %v", doc, got, want)
		}
	}
}
