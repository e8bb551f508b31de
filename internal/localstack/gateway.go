package localstack

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// route is one HttpApi event: METHOD /path with {param} and {proxy+} segments.
type route struct {
	key      string // routeKey, e.g. "POST /subscribe"
	method   string // upper case, or ANY
	segments []string
	catchAll bool // the $default route
	r        *runner
}

func newRoute(rt HTTPRoute, r *runner) route {
	if rt.Path == "" || rt.Path == "$default" {
		return route{key: "$default", method: "ANY", catchAll: true, r: r}
	}
	return route{key: rt.Method + " " + rt.Path, method: rt.Method, segments: splitPath(rt.Path), r: r}
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// sortRoutes orders routes as API Gateway picks them: the most specific first
// (more literal segments, then greedy last), the $default route at the end.
func sortRoutes(rs []route) {
	score := func(r route) (int, int, int) {
		if r.catchAll {
			return -1, 0, 0
		}
		lit, greedy := 0, 0
		for _, s := range r.segments {
			switch {
			case strings.HasSuffix(s, "+}"):
				greedy = 1
			case strings.HasPrefix(s, "{"):
			default:
				lit++
			}
		}
		method := 1
		if r.method == "ANY" {
			method = 0
		}
		return lit, -greedy, method
	}
	sort.SliceStable(rs, func(i, j int) bool {
		li, gi, mi := score(rs[i])
		lj, gj, mj := score(rs[j])
		if li != lj {
			return li > lj
		}
		if gi != gj {
			return gi > gj
		}
		return mi > mj
	})
}

// match returns the route's path parameters when it matches the request.
func (rt route) match(method, path string) (map[string]string, bool) {
	if rt.method != "ANY" && rt.method != method {
		return nil, false
	}
	if rt.catchAll {
		return nil, true
	}
	segs := splitPath(path)
	params := map[string]string{}
	for i, s := range rt.segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}") {
			if i >= len(segs) {
				return nil, false
			}
			params[strings.TrimSuffix(s[1:], "+}")] = strings.Join(segs[i:], "/")
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			params[s[1:len(s)-1]] = segs[i]
			continue
		}
		if s != segs[i] {
			return nil, false
		}
	}
	if len(segs) != len(rt.segments) {
		return nil, false
	}
	if len(params) == 0 {
		params = nil
	}
	return params, true
}

func (s *Server) serveAPI(w http.ResponseWriter, req *http.Request) {
	var (
		rt     *route
		params map[string]string
	)
	for i := range s.routes {
		if p, ok := s.routes[i].match(req.Method, req.URL.Path); ok {
			rt, params = &s.routes[i], p
			break
		}
	}
	if rt == nil {
		// API Gateway's own answer for an unknown route.
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	body, err := readBody(req, 10<<20) // API Gateway's payload limit
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": "Request Entity Too Large"})
		return
	}
	ev := HTTPEventFor(req, body, rt.key, params, s.stack.AccountID, s.apiID, time.Now())
	payload, err := json.Marshal(ev)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	res, err := rt.r.invoke(req.Context(), payload)
	s.logInvoke(rt.r, "http "+rt.key, res, err)
	if err != nil || res.FunctionError {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		return
	}
	WriteHTTPResponse(w, res.Payload)
}

// HTTPEventFor builds the API Gateway HTTP API (payload format 2.0) event for
// a request, as API Gateway would send it.
func HTTPEventFor(req *http.Request, body []byte, routeKey string, pathParams map[string]string, accountID, apiID string, now time.Time) events.APIGatewayV2HTTPRequest {
	sourceIP := req.RemoteAddr
	if h, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		sourceIP = h
	}
	headers := map[string]string{}
	var cookies []string
	for k, vs := range req.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			// HTTP APIs move cookies out of the headers into their own field.
			for _, v := range vs {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lk] = strings.Join(vs, ",")
	}
	headers["host"] = req.Host
	if len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	port := "80"
	if _, p, err := net.SplitHostPort(req.Host); err == nil {
		port = p
	}
	headers["x-forwarded-proto"] = "http"
	headers["x-forwarded-port"] = port
	if xff, ok := headers["x-forwarded-for"]; ok {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	var qsp map[string]string
	if q := req.URL.Query(); len(q) > 0 {
		qsp = map[string]string{}
		for k, vs := range q {
			qsp[k] = strings.Join(vs, ",")
		}
	}
	rawPath := req.URL.RawPath
	if rawPath == "" {
		rawPath = req.URL.Path
	}
	host, _, err := net.SplitHostPort(req.Host)
	if err != nil {
		host = req.Host
	}
	prefix, _, _ := strings.Cut(host, ".")
	requestID := newRequestID()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               rawPath,
		RawQueryString:        req.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: qsp,
		PathParameters:        pathParams,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    accountID,
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        apiID,
			DomainName:   req.Host,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    req.Method,
				Path:      req.URL.Path,
				Protocol:  req.Proto,
				SourceIP:  sourceIP,
				UserAgent: req.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isTextContent(req.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isTextContent reports whether API Gateway would pass a body of this content
// type as text rather than base64.
func isTextContent(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/x-www-form-urlencoded",
		mt == "application/javascript":
		return true
	}
	return false
}

// WriteHTTPResponse writes a function's payload format 2.0 response. As on
// API Gateway, a payload that is not a response object (no statusCode) is
// the body of a 200 application/json response.
func WriteHTTPResponse(w http.ResponseWriter, payload []byte) {
	var probe map[string]json.RawMessage
	var resp events.APIGatewayV2HTTPResponse
	if json.Unmarshal(payload, &probe) != nil || probe["statusCode"] == nil || json.Unmarshal(payload, &resp) != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(payload)
		return
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
			return
		}
		body = b
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
