package localstack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runner runs one function's bootstrap under aws-lambda-rie and invokes it,
// one invocation at a time: RIE handles a single invocation and fails (or
// crashes) on a concurrent one, exactly like one Lambda execution environment.
type runner struct {
	fn      *Function
	bin     string // path of the function's bootstrap
	rie     string
	addr    string // RIE's invoke endpoint
	apiAddr string // RIE's runtime API, used by the bootstrap
	env     []string
	log     *slog.Logger
	fnLog   *lineWriter
	rieLog  *lineWriter

	mu      sync.Mutex // serialises invocations and (re)starts
	cmd     *exec.Cmd
	exited  chan struct{}
	binTime time.Time

	busy        atomic.Int32
	invocations atomic.Int64
	errors      atomic.Int64
	restarts    atomic.Int64
	running     atomic.Bool
}

// invokeResult is what the function answered.
type invokeResult struct {
	Payload []byte
	// FunctionError is set when the function failed: returned an error,
	// panicked, exited or timed out. Payload then holds Lambda's error document.
	FunctionError bool
}

func (r *runner) built() bool {
	st, err := os.Stat(r.bin)
	return err == nil && !st.IsDir()
}

// start launches RIE with the bootstrap; r.mu must be held.
func (r *runner) start() error {
	st, err := os.Stat(r.bin)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bootstrap not built: %s is missing (build the functions first: make functions)", r.bin)
	}
	if err != nil {
		return fmt.Errorf("stat bootstrap: %w", err)
	}
	cmd := exec.Command(r.rie,
		"--runtime-interface-emulator-address", r.addr,
		"--runtime-api-address", r.apiAddr,
		"--log-level", "info",
		r.bin)
	cmd.Dir = filepath.Dir(r.bin)
	cmd.Env = r.env
	// Own process group, so stopping RIE also stops the bootstrap it spawned;
	// and RIE dies with serve even when serve is killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("rie stdout: %w", err)
	}
	cmd.Stderr = r.rieLog // RIE's own logrus lines
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.rie, err)
	}
	exited := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		splitRIEOutput(stdout, r.fnLog, r.rieLog)
	}()
	go func() {
		<-copied
		err := cmd.Wait()
		r.running.Store(false)
		r.log.Info("rie exited", "function", r.fn.LogicalID, "err", errString(err))
		close(exited)
	}()
	r.cmd, r.exited, r.binTime = cmd, exited, st.ModTime()
	r.running.Store(true)
	// Wait for RIE's HTTP server: invoking earlier would be refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("rie for %s exited at start (see %s)", r.fn.LogicalID, r.rieLog.path)
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			return fmt.Errorf("rie for %s did not listen on %s within 10s", r.fn.LogicalID, r.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.log.Info("rie started", "function", r.fn.LogicalID, "pid", cmd.Process.Pid, "addr", r.addr, "runtimeApi", r.apiAddr)
	return nil
}

// stop ends RIE and the bootstrap (the whole process group); r.mu must be held.
func (r *runner) stop() {
	if r.cmd == nil {
		return
	}
	pgid := r.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(2 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-r.exited
	}
	// A bootstrap that outlived RIE is in the same group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	r.cmd = nil
}

func (r *runner) alive() bool {
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// ensure starts RIE if it is not running, or restarts it when the bootstrap
// was rebuilt since; r.mu must be held.
func (r *runner) ensure() error {
	if r.alive() {
		st, err := os.Stat(r.bin)
		if err == nil && st.ModTime().Equal(r.binTime) {
			return nil
		}
		r.log.Info("bootstrap changed: restarting rie", "function", r.fn.LogicalID)
		r.stop()
	} else if r.cmd != nil {
		r.log.Warn("rie died: restarting", "function", r.fn.LogicalID)
		r.cmd = nil
	}
	if r.invocations.Load() > 0 || r.restarts.Load() > 0 {
		r.restarts.Add(1)
	}
	return r.start()
}

// invoke runs one invocation. An error means the function could not be run at
// all (not built, RIE would not start); failures of the function itself are
// reported in the result.
func (r *runner) invoke(ctx context.Context, payload []byte) (invokeResult, error) {
	r.busy.Add(1)
	defer r.busy.Add(-1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensure(); err != nil {
		return invokeResult{}, err
	}
	r.invocations.Add(1)
	// Never cut an invocation short because the caller went away: RIE would
	// still run it and refuse the next one. The function's own timeout bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(r.fn.Timeout+5)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		"http://"+r.addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return invokeResult{}, fmt.Errorf("invoke %s: %w", r.fn.LogicalID, err)
	}
	reqID := newRequestID()
	req.Header.Set("X-Amzn-RequestId", reqID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// RIE died under the invocation (or hung): the environment is gone.
		r.errors.Add(1)
		r.stop()
		return r.failure("Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: runtime exited: %v", reqID, err)), nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		r.errors.Add(1)
		r.stop()
		return r.failure("Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: reading response: %v", reqID, err)), nil
	}
	timedOut := bytes.HasPrefix(body, []byte("Task timed out after"))
	if resp.StatusCode != http.StatusOK || timedOut {
		// A crash (502), a timeout or a refused invocation leaves RIE's
		// sandbox in a state it does not recover from: start afresh next time.
		r.errors.Add(1)
		r.stop()
		if timedOut {
			return r.failure("Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: %s", reqID, bytes.TrimSpace(body))), nil
		}
		if isErrorDocument(body) {
			return invokeResult{Payload: body, FunctionError: true}, nil
		}
		return r.failure("Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: runtime failed (RIE answered %s): %s", reqID, resp.Status, bytes.TrimSpace(body))), nil
	}
	if isErrorDocument(body) {
		r.errors.Add(1)
		return invokeResult{Payload: body, FunctionError: true}, nil
	}
	return invokeResult{Payload: body}, nil
}

func (r *runner) failure(errType, msg string) invokeResult {
	b, _ := json.Marshal(map[string]string{"errorType": errType, "errorMessage": msg})
	return invokeResult{Payload: b, FunctionError: true}
}

// isErrorDocument reports whether an invocation response is Lambda's error
// shape {"errorMessage": …, "errorType": …[, "stackTrace": …]}: RIE answers 200
// with it when a handler returns an error.
func isErrorDocument(b []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	if _, ok := m["errorMessage"]; !ok {
		return false
	}
	for k := range m {
		switch k {
		case "errorMessage", "errorType", "stackTrace", "requestId", "cause":
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// rieMarkers are the lines RIE itself prints on stdout, which it shares with
// the function's output.
var rieMarkers = []string{"START RequestId: ", "END RequestId: ", "REPORT RequestId: "}

// splitRIEOutput copies RIE's stdout line by line: RIE's START/END/REPORT lines
// to rie, everything else (the function's own stdout and stderr) to fn. A
// marker glued to a function line without a trailing newline is split off.
func splitRIEOutput(r io.Reader, fn, rie io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		idx := -1
		for _, m := range rieMarkers {
			if i := strings.Index(line, m); i >= 0 && (idx < 0 || i < idx) {
				idx = i
			}
		}
		switch {
		case idx == 0:
			fmt.Fprintln(rie, line)
		case idx > 0:
			fmt.Fprintln(fn, line[:idx])
			fmt.Fprintln(rie, line[idx:])
		default:
			fmt.Fprintln(fn, line)
		}
	}
	// Lines longer than the buffer: keep the rest rather than lose it.
	if sc.Err() != nil {
		_, _ = io.Copy(fn, r)
	}
}

// lineWriter is a log file shared by goroutines; each Write is one or more
// whole lines.
type lineWriter struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

func openLog(path string) (*lineWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &lineWriter{f: f, path: path}, nil
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Write(p)
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// functionEnv is the environment a function gets locally: what Lambda sets,
// the local endpoints and dummy credentials, then the template's variables.
func functionEnv(st *Stack, fn *Function, taskRoot string) []string {
	env := map[string]string{
		"PATH":                            os.Getenv("PATH"),
		"TZ":                              ":UTC",
		"LANG":                            "C.UTF-8",
		"LAMBDA_TASK_ROOT":                taskRoot,
		"_HANDLER":                        "bootstrap",
		"AWS_REGION":                      st.Region,
		"AWS_DEFAULT_REGION":              st.Region,
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
		"AWS_EC2_METADATA_DISABLED":       "true",
		"AWS_ENDPOINT_URL":                st.Endpoints.AWS,
		"AWS_ENDPOINT_URL_SESV2":          st.Endpoints.SESv2,
		"AWS_LAMBDA_FUNCTION_NAME":        fn.FunctionName,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(fn.Timeout),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.MemorySize),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + fn.FunctionName,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "local",
	}
	if fn.LogFormat != "" {
		env["AWS_LAMBDA_LOG_FORMAT"] = fn.LogFormat
	}
	for k, v := range fn.Environment {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
