package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// MaxBody is the largest request body accepted: a sign-up or preferences
// form is well under 1 KiB, so anything near this is not a form.
const MaxBody = 16 << 10

// Handler serves the subscription HTTP API: one API Gateway HTTP API (v2)
// request becomes one call of the subscription core.
type Handler struct {
	Service *subscription.Service
	// Publisher names the newsletter on the pages; empty means
	// defaultPublisher.
	Publisher string
	Log       *slog.Logger
}

// Request errors, before the core is reached.
var (
	errTooLarge    = gazette.Errorf(gazette.KindInvalid, "too_large", "the request body is too large")
	errBadBody     = gazette.Errorf(gazette.KindInvalid, "bad_body", "the request body could not be read")
	errMediaType   = gazette.Errorf(gazette.KindInvalid, "unsupported_media_type", "send the form as application/x-www-form-urlencoded or application/json")
	errNotFound    = gazette.Errorf(gazette.KindNotFound, "no_route", "there is no such page")
	errMethod      = gazette.Errorf(gazette.KindInvalid, "method_not_allowed", "this page does not accept that method")
	errTokenAbsent = gazette.Errorf(gazette.KindInvalid, "token_invalid", "the link is incomplete: it has no token")
)

// routes maps a path to the methods it serves.
var routes = map[string][]string{
	"/subscribe":   {http.MethodPost},
	"/confirm":     {http.MethodGet},
	"/unsubscribe": {http.MethodGet, http.MethodPost},
	"/preferences": {http.MethodGet, http.MethodPost},
}

// request is what the handler reads from an event.
type request struct {
	method, path string
	query        url.Values
	header       func(string) string
	form         form
	jsonBody     bool
	wantJSON     bool
	base         string
}

// Handle serves one request. It always answers with a page or a JSON
// document, never with a Lambda error: API Gateway would turn that into a
// bare 500 that tells the reader nothing.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r := h.parse(ev)
	res, err := h.route(ctx, &r, ev)
	if err != nil {
		return h.fail(ctx, &r, err), nil
	}
	return res, nil
}

func (h *Handler) parse(ev events.APIGatewayV2HTTPRequest) request {
	r := request{
		method: strings.ToUpper(ev.RequestContext.HTTP.Method),
		path:   ev.RawPath,
		header: headerLookup(ev.Headers),
	}
	if r.path == "" {
		r.path = ev.RequestContext.HTTP.Path
	}
	stage := ev.RequestContext.Stage
	if stage != "" && stage != "$default" {
		r.path = strings.TrimPrefix(r.path, "/"+stage)
	}
	if r.path != "/" {
		r.path = strings.TrimRight(r.path, "/")
	}
	r.query, _ = url.ParseQuery(ev.RawQueryString)
	for k, v := range ev.QueryStringParameters {
		if r.query.Get(k) == "" {
			r.query.Set(k, v)
		}
	}
	r.base = baseURL(ev, r.header)
	ct, _, _ := mime.ParseMediaType(r.header("content-type"))
	r.jsonBody = ct == "application/json"
	r.wantJSON = wantsJSON(r.header("accept"), r.jsonBody)
	return r
}

// baseURL is the public URL of this API as the client reached it, for the
// links in mails and pages: the API's own URL is not in the environment
// (it would be a circular reference in the template) and a custom domain
// arrives as the request's domain name anyway.
func baseURL(ev events.APIGatewayV2HTTPRequest, header func(string) string) string {
	proto := strings.ToLower(strings.TrimSpace(strings.Split(header("x-forwarded-proto"), ",")[0]))
	if proto != "http" {
		proto = "https"
	}
	host := ev.RequestContext.DomainName
	if host == "" {
		host = header("host")
	}
	u := proto + "://" + host
	if st := ev.RequestContext.Stage; st != "" && st != "$default" {
		u += "/" + url.PathEscape(st)
	}
	return u
}

func headerLookup(h map[string]string) func(string) string {
	lower := make(map[string]string, len(h))
	for k, v := range h {
		lower[strings.ToLower(k)] = v
	}
	return func(name string) string { return lower[name] }
}

// wantsJSON reads the Accept header: JSON when it prefers application/json
// to text/html, HTML when it prefers HTML, and when it does not say (curl,
// mailbox providers) the same kind as the request body.
func wantsJSON(accept string, jsonBody bool) bool {
	var qJSON, qHTML float64 = -1, -1
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				q = f
			}
		}
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			qJSON = max(qJSON, q)
		case mt == "text/html" || mt == "application/xhtml+xml":
			qHTML = max(qHTML, q)
		}
	}
	switch {
	case qJSON > qHTML:
		return true
	case qHTML > qJSON:
		return false
	}
	return jsonBody
}

func (h *Handler) route(ctx context.Context, r *request, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	methods, ok := routes[r.path]
	if !ok {
		return events.APIGatewayV2HTTPResponse{}, errNotFound
	}
	allowed := false
	for _, m := range methods {
		allowed = allowed || m == r.method
	}
	if !allowed {
		return events.APIGatewayV2HTTPResponse{}, errMethod
	}
	if r.method == http.MethodPost {
		f, err := readForm(ev, r.header("content-type"))
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		r.form = f
	}
	tok := r.query.Get("token")
	if tok == "" {
		tok = r.form.get("token")
	}
	if r.path != "/subscribe" && tok == "" {
		return events.APIGatewayV2HTTPResponse{}, errTokenAbsent
	}
	svc := h.Service
	switch r.method + " " + r.path {
	case "POST /subscribe":
		err := svc.Subscribe(ctx, r.base, subscription.SignUp{
			Email: r.form.get("email"), Name: r.form.get("name"), Topics: r.form.topics(),
		})
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return h.respond(r, http.StatusAccepted, page{
			Title:   "Check your inbox",
			Message: "If the address can receive mail, a message with a confirmation link is on its way. Follow it to complete your subscription; without it you will get nothing more.",
			Status:  "pending",
		}), nil

	case "GET /confirm":
		p, err := svc.Confirm(ctx, tok)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		msg := "Your subscription is confirmed. The next issue will be in your inbox."
		if !p.Changed {
			msg = "Your subscription was already confirmed. Nothing else to do."
		}
		return h.respond(r, http.StatusOK, page{Title: "You are subscribed", Message: msg, Status: string(p.Status), Name: p.Name}), nil

	case "GET /unsubscribe":
		if err := svc.CheckUnsubscribe(tok); err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return h.respond(r, http.StatusOK, page{
			Title:   "Unsubscribe?",
			Message: "Press the button to stop receiving " + h.publisher() + ". You can subscribe again at any time.",
			Action:  r.base + "/unsubscribe?token=" + url.QueryEscape(tok),
			Button:  "Unsubscribe",
		}), nil

	case "POST /unsubscribe":
		// RFC 8058: the mailbox provider posts List-Unsubscribe=One-Click.
		// Our own page's button posts the form without it; both count.
		oneClick := strings.EqualFold(r.form.get("List-Unsubscribe"), "One-Click")
		p, err := svc.Unsubscribe(ctx, tok, oneClick)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		msg := "You have been unsubscribed and will receive no more mail from " + h.publisher() + "."
		if !p.Changed {
			msg = "You were already unsubscribed. You will receive no more mail from " + h.publisher() + "."
		}
		return h.respond(r, http.StatusOK, page{Title: "You are unsubscribed", Message: msg, Status: string(gazette.SubscriberUnsubscribed)}), nil

	case "GET /preferences":
		p, err := svc.Preferences(ctx, tok)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return h.respond(r, http.StatusOK, h.preferencesPage(r, tok, p, "Change your name or the topics you receive.")), nil

	case "POST /preferences":
		var u subscription.Update
		if r.form.has("name") {
			name := r.form.get("name")
			u.Name = &name
		}
		if r.form.has("topics") || r.form.has("topic") || r.form.has("_topics") {
			t := r.form.topics()
			u.Topics = &t
		}
		p, err := svc.UpdatePreferences(ctx, tok, u)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		msg := "Your preferences are saved."
		if !p.Changed {
			msg = "Nothing to change: your preferences were already so."
		}
		return h.respond(r, http.StatusOK, h.preferencesPage(r, tok, p, msg)), nil
	}
	return events.APIGatewayV2HTTPResponse{}, errNotFound
}

func (h *Handler) publisher() string {
	if h.Publisher == "" {
		return defaultPublisher
	}
	return h.Publisher
}

func (h *Handler) preferencesPage(r *request, tok string, p subscription.Profile, msg string) page {
	chosen := map[string]bool{}
	for _, t := range p.Topics {
		chosen[t] = true
	}
	pg := page{
		Title:   "Your preferences",
		Message: msg,
		Status:  string(p.Status),
		Name:    p.Name,
		Action:  r.base + "/preferences?token=" + url.QueryEscape(tok),
		Button:  "Save",
		Prefs:   true,
		Topics:  p.Topics,
	}
	if pg.Topics == nil {
		pg.Topics = []string{}
	}
	for _, t := range h.Service.Topics() {
		pg.Choices = append(pg.Choices, choice{Topic: t, Checked: chosen[t]})
	}
	if p.UnsubscribeToken != "" && !subscription.Suppressed(p.Status) {
		pg.Unsubscribe = r.base + "/unsubscribe?token=" + url.QueryEscape(p.UnsubscribeToken)
	}
	return pg
}

// form is a parsed request body: url-encoded, multipart or JSON.
type form url.Values

func (f form) get(k string) string { return url.Values(f).Get(k) }

func (f form) has(k string) bool { _, ok := f[k]; return ok }

// topics reads "topics" (and "topic"), repeated or comma-separated.
func (f form) topics() []string {
	var out []string
	for _, k := range []string{"topics", "topic"} {
		for _, v := range f[k] {
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// readForm decodes the body by its content type, within MaxBody.
func readForm(ev events.APIGatewayV2HTTPRequest, contentType string) (form, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(ev.Body)) > MaxBody+3 {
			return nil, errTooLarge
		}
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, errBadBody
		}
	}
	if len(body) > MaxBody {
		return nil, errTooLarge
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return form{}, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil && contentType != "" {
		return nil, errMediaType
	}
	switch mt {
	case "application/x-www-form-urlencoded", "":
		// A body without a content type is read as a form: RFC 8058
		// clients have been seen to omit it.
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errBadBody
		}
		return form(v), nil
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		mf, err := mr.ReadForm(MaxBody)
		if err != nil {
			return nil, errBadBody
		}
		defer mf.RemoveAll()
		return form(mf.Value), nil
	case "application/json":
		return readJSON(body)
	}
	return nil, errMediaType
}

// readJSON reads {"email": "...", "name": "...", "topics": [...] or "a,b"}.
func readJSON(body []byte) (form, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_json", "the request body is not a JSON object")
	}
	f := form{}
	for k, raw := range m {
		var s string
		var list []string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			f[k] = []string{s}
		case json.Unmarshal(raw, &list) == nil:
			f[k] = list
			if list == nil {
				f[k] = []string{}
			}
		default:
			if string(raw) == "null" {
				continue
			}
			return nil, gazette.Errorf(gazette.KindInvalid, "bad_json", "%q must be a string or a list of strings", k)
		}
	}
	return f, nil
}

// status is the HTTP status of an error.
func status(err error) int {
	switch gazette.CodeOf(err) {
	case "too_large":
		return http.StatusRequestEntityTooLarge
	case "unsupported_media_type":
		return http.StatusUnsupportedMediaType
	case "method_not_allowed":
		return http.StatusMethodNotAllowed
	case "token_expired":
		return http.StatusGone
	case "token_invalid", "bad_body", "bad_json":
		return http.StatusBadRequest
	}
	switch gazette.KindOf(err) {
	case gazette.KindInvalid:
		return http.StatusUnprocessableEntity
	case gazette.KindNotFound:
		return http.StatusNotFound
	case gazette.KindConflict:
		return http.StatusConflict
	case gazette.KindThrottled:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// addressRE finds what looks like an e-mail address in an error message
// (SES puts rejected addresses into its errors), to keep it out of logs.
var addressRE = regexp.MustCompile(`[^\s<>"'(),;:@]+@[^\s<>"'(),;:]+`)

func redact(s string) string { return addressRE.ReplaceAllString(s, "<address>") }

func (h *Handler) fail(ctx context.Context, r *request, err error) events.APIGatewayV2HTTPResponse {
	code := status(err)
	var ge *gazette.Error
	msg := "Something went wrong on our side. Please try again later."
	if code < 500 && errors.As(err, &ge) && ge.Message != "" {
		msg = ge.Message
	}
	if code == http.StatusServiceUnavailable {
		msg = "We are busy right now. Please try again in a moment."
	}
	attrs := []any{slog.Int("status", code), slog.String("method", r.method), slog.String("path", r.path),
		slog.String("code", gazette.CodeOf(err))}
	if code >= 500 {
		h.log().ErrorContext(ctx, "request failed", append(attrs, slog.String("error", redact(err.Error())))...)
	} else {
		h.log().InfoContext(ctx, "request refused", attrs...)
	}
	res := h.respond(r, code, page{Title: http.StatusText(code), Message: msg, Error: true, Code: gazette.CodeOf(err)})
	switch code {
	case http.StatusMethodNotAllowed:
		res.Headers["Allow"] = strings.Join(routes[r.path], ", ")
	case http.StatusServiceUnavailable:
		res.Headers["Retry-After"] = "5"
	}
	return res
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// respond renders p as JSON or HTML, whichever the client prefers.
func (h *Handler) respond(r *request, code int, p page) events.APIGatewayV2HTTPResponse {
	headers := map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		// Links carry tokens: never leak them in a Referer.
		"Referrer-Policy": "no-referrer",
	}
	var body string
	if r.wantJSON {
		headers["Content-Type"] = "application/json; charset=utf-8"
		body = p.json()
	} else {
		headers["Content-Type"] = "text/html; charset=utf-8"
		headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
		p.Publisher = h.publisher()
		var b strings.Builder
		if err := pages.Execute(&b, p); err != nil {
			// The template is fixed and tested; this is a bug, not input.
			h.log().Error("render page", slog.Any("error", err))
			headers["Content-Type"] = "text/plain; charset=utf-8"
			b.Reset()
			io.WriteString(&b, p.Title+"\n\n"+p.Message+"\n")
		}
		body = b.String()
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: code, Headers: headers, Body: body}
}
