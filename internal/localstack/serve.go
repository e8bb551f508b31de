package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ServeOptions configures a Server.
type ServeOptions struct {
	Stack *Stack
	// BinDir holds <folder>/bootstrap for each function (out/bin).
	BinDir string
	// RIEPath is the aws-lambda-rie binary.
	RIEPath string
	// LogDir receives <LogicalId>.log (the function's own output) and
	// <LogicalId>.rie.log (RIE's START/END/REPORT and log lines).
	LogDir string
	Logger *slog.Logger
	// RIEPortBase and RIEAPIPortBase number each function's RIE ports
	// (base + index); 0 picks free ports.
	RIEPortBase, RIEAPIPortBase int
	// APIAddr and LambdaAddr override the listen addresses taken from the
	// stack's endpoints ("127.0.0.1:0" picks a free port).
	APIAddr, LambdaAddr string
	// RetryDelay is the visibility timeout given back to messages whose
	// processing failed (default 1s). See the package documentation.
	RetryDelay time.Duration
	// PollWait is the SQS long-poll wait (default 2s).
	PollWait time.Duration
}

// Server runs the functions of a stack locally: each under aws-lambda-rie,
// fed by SQS pollers, the HTTP API and the invoke API.
type Server struct {
	o        ServeOptions
	log      *slog.Logger
	stack    *Stack
	sqs      *sqs.Client
	runners  []*runner
	byName   map[string]*runner
	routes   []route
	pollers  []*poller
	apiLn    net.Listener
	lambdaLn net.Listener
	logs     []*lineWriter
	async    sync.WaitGroup
	asyncN   atomic.Int32
	apiID    string
}

// NewServer prepares a server and binds its listeners, so that a port already
// in use fails here rather than later.
func NewServer(o ServeOptions) (*Server, error) {
	if o.Stack == nil {
		return nil, errors.New("serve: no stack")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = time.Second
	}
	if o.PollWait == 0 {
		o.PollWait = 2 * time.Second
	}
	s := &Server{o: o, log: o.Logger, stack: o.Stack, byName: map[string]*runner{}, apiID: "local"}
	s.sqs = o.Stack.Clients().SQS
	if _, err := os.Stat(o.RIEPath); err != nil {
		return nil, fmt.Errorf("serve: aws-lambda-rie: %w (run infra/stack.sh install)", err)
	}
	if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("serve: log dir: %w", err)
	}
	for _, ph := range o.Stack.Resources {
		if ph.Type == "AWS::Serverless::HttpApi" {
			s.apiID = ph.PhysicalID
		}
	}
	ok := false
	defer func() {
		if !ok {
			s.closeAll()
		}
	}()
	// Our own listeners first, then the RIE ports: a port picked free and
	// closed for RIE to bind could otherwise be handed to a listener asked
	// for ":0" a moment later.
	var err error
	if s.apiLn, err = listen(o.APIAddr, o.Stack.Endpoints.HTTPAPI); err != nil {
		return nil, fmt.Errorf("serve: HTTP API: %w", err)
	}
	if s.lambdaLn, err = listen(o.LambdaAddr, o.Stack.Endpoints.Lambda); err != nil {
		return nil, fmt.Errorf("serve: invoke API: %w", err)
	}
	var ports portPicker
	defer ports.release()
	for i, fn := range o.Stack.Functions {
		addr, err := ports.addr(o.RIEPortBase, i)
		if err != nil {
			return nil, err
		}
		apiAddr, err := ports.addr(o.RIEAPIPortBase, i)
		if err != nil {
			return nil, err
		}
		fnLog, err := openLog(filepath.Join(o.LogDir, fn.LogicalID+".log"))
		if err != nil {
			return nil, err
		}
		s.logs = append(s.logs, fnLog)
		rieLog, err := openLog(filepath.Join(o.LogDir, fn.LogicalID+".rie.log"))
		if err != nil {
			return nil, err
		}
		s.logs = append(s.logs, rieLog)
		bin := filepath.Join(o.BinDir, fn.Folder, "bootstrap")
		if abs, err := filepath.Abs(bin); err == nil {
			bin = abs
		}
		r := &runner{
			fn: fn, bin: bin, rie: o.RIEPath, addr: addr, apiAddr: apiAddr,
			env: functionEnv(o.Stack, fn, filepath.Dir(bin)), log: s.log, fnLog: fnLog, rieLog: rieLog,
		}
		s.runners = append(s.runners, r)
		s.byName[fn.LogicalID] = r
		s.byName[fn.FunctionName] = r
		for _, src := range fn.SQSEvents {
			if !src.Enabled {
				s.log.Info("event source disabled in the template", "function", fn.LogicalID, "queue", src.Queue)
				continue
			}
			s.pollers = append(s.pollers, &poller{s: s, r: r, src: src})
		}
		for _, rt := range fn.HTTPRoutes {
			s.routes = append(s.routes, newRoute(rt, r))
		}
	}
	sortRoutes(s.routes)
	ok = true
	return s, nil
}

// portPicker hands out 127.0.0.1:base+i, or free ports when base is 0.
// It holds each free port's listener until release, so that the ports it
// picks differ from one another; RIE binds them after release.
type portPicker struct{ held []net.Listener }

func (p *portPicker) addr(base, i int) (string, error) {
	if base > 0 {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)), nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	p.held = append(p.held, l)
	return l.Addr().String(), nil
}

func (p *portPicker) release() {
	for _, l := range p.held {
		_ = l.Close()
	}
	p.held = nil
}

func listen(addr, endpoint string) (net.Listener, error) {
	if addr == "" {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("bad endpoint %q", endpoint)
		}
		addr = u.Host
	}
	return net.Listen("tcp", addr)
}

// APIURL is the base URL the HTTP API listens on.
func (s *Server) APIURL() string { return "http://" + s.apiLn.Addr().String() }

// LambdaURL is the base URL the invoke API listens on.
func (s *Server) LambdaURL() string { return "http://" + s.lambdaLn.Addr().String() }

func (s *Server) closeAll() {
	if s.apiLn != nil {
		s.apiLn.Close()
	}
	if s.lambdaLn != nil {
		s.lambdaLn.Close()
	}
	for _, l := range s.logs {
		l.Close()
	}
}

// Run serves until ctx ends, then stops pollers, HTTP servers and every RIE.
func (s *Server) Run(ctx context.Context) error {
	defer s.closeAll()
	// Warm up the functions that are built; the others start on first use.
	for _, r := range s.runners {
		go func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if !r.built() {
				s.log.Warn("function not built yet: it starts on first invocation", "function", r.fn.LogicalID, "bootstrap", r.bin)
				return
			}
			if r.cmd == nil {
				if err := r.start(); err != nil {
					s.log.Error("rie start failed", "function", r.fn.LogicalID, "err", err)
				}
			}
		}()
	}
	apiSrv := &http.Server{Handler: http.HandlerFunc(s.serveAPI), ReadHeaderTimeout: 10 * time.Second}
	lambdaSrv := &http.Server{Handler: http.HandlerFunc(s.serveLambda), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- apiSrv.Serve(s.apiLn) }()
	go func() { errc <- lambdaSrv.Serve(s.lambdaLn) }()
	pollCtx, stopPolling := context.WithCancel(ctx)
	var pw sync.WaitGroup
	for _, p := range s.pollers {
		pw.Add(1)
		go func() {
			defer pw.Done()
			p.run(pollCtx)
		}()
	}
	s.log.Info("serving", "httpApi", s.APIURL(), "lambda", s.LambdaURL(), "functions", len(s.runners), "pollers", len(s.pollers), "routes", len(s.routes))
	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = fmt.Errorf("serve: %w", err)
	}
	s.log.Info("stopping")
	stopPolling()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = apiSrv.Shutdown(shutCtx)
	_ = lambdaSrv.Shutdown(shutCtx)
	pw.Wait()
	s.async.Wait()
	for _, r := range s.runners {
		r.mu.Lock()
		r.stop()
		r.mu.Unlock()
	}
	s.log.Info("stopped")
	return runErr
}

// ---------------------------------------------------------------- invoke API

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serveLambda(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/_stack/status" && req.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, s.status(req.Context()))
		return
	}
	const prefix, suffix = "/2015-03-31/functions/", "/invocations"
	if req.Method != http.MethodPost || !strings.HasPrefix(req.URL.Path, prefix) || !strings.HasSuffix(req.URL.Path, suffix) {
		writeJSON(w, http.StatusNotFound, map[string]string{"Type": "User", "message": "unknown operation " + req.Method + " " + req.URL.Path})
		return
	}
	name := strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, prefix), suffix)
	if i := strings.LastIndex(name, ":function:"); i >= 0 { // a function ARN
		name = name[i+len(":function:"):]
	}
	r, ok := s.byName[name]
	if !ok {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		writeJSON(w, http.StatusNotFound, map[string]string{"Type": "User", "message": "Function not found: " + name})
		return
	}
	payload, err := readBody(req, 6<<20) // Lambda's synchronous payload limit
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"Type": "User", "message": err.Error()})
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	switch req.Header.Get("X-Amz-Invocation-Type") {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		s.async.Add(1)
		s.asyncN.Add(1)
		go func() {
			defer s.async.Done()
			defer s.asyncN.Add(-1)
			res, err := r.invoke(context.Background(), payload)
			s.logInvoke(r, "event", res, err)
		}()
		w.WriteHeader(http.StatusAccepted)
		return
	}
	res, err := r.invoke(req.Context(), payload)
	s.logInvoke(r, "invoke", res, err)
	if err != nil {
		w.Header().Set("X-Amzn-ErrorType", "ServiceException")
		writeJSON(w, http.StatusBadGateway, map[string]string{"Type": "Service", "message": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if res.FunctionError {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload)
}

func (s *Server) logInvoke(r *runner, via string, res invokeResult, err error) {
	switch {
	case err != nil:
		s.log.Error("invocation failed to run", "function", r.fn.LogicalID, "via", via, "err", err)
	case res.FunctionError:
		s.log.Warn("function error", "function", r.fn.LogicalID, "via", via, "error", string(res.Payload))
	default:
		s.log.Info("invoked", "function", r.fn.LogicalID, "via", via, "bytes", len(res.Payload))
	}
}

// readBody reads at most limit bytes of the request body, failing beyond.
func readBody(req *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("request body larger than %d bytes", limit)
	}
	return b, nil
}

// status is the Server's view for WaitIdle: invocations running and the
// depth of every polled queue.
func (s *Server) status(ctx context.Context) *Status {
	st := &Status{Functions: map[string]FunctionStatus{}, Queues: map[string]QueueStatus{}}
	idle := s.asyncN.Load() == 0
	for _, r := range s.runners {
		fs := FunctionStatus{
			Running: r.running.Load(), Invocations: r.invocations.Load(), Errors: r.errors.Load(),
			Busy: int(r.busy.Load()), Restarts: r.restarts.Load(),
		}
		if fs.Busy > 0 {
			idle = false
		}
		st.Functions[r.fn.LogicalID] = fs
	}
	for _, p := range s.pollers {
		qs := QueueStatus{URL: p.src.QueueURL, InPoller: int(p.inPoller.Load()), Deliveries: p.deliveries.Load()}
		out, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(p.src.QueueURL),
			AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
			},
		})
		if err != nil {
			qs.Error = err.Error()
			idle = false
		} else {
			qs.Visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
			qs.InFlight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
			qs.Delayed, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesDelayed"])
		}
		if qs.Visible+qs.InFlight+qs.Delayed+qs.InPoller > 0 {
			idle = false
		}
		st.Queues[p.src.Queue] = qs
	}
	st.Idle = idle
	return st
}
