package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/delivery"
	"github.com/gazette-news/gazette/internal/digest"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/localstack"
	"github.com/gazette-news/gazette/internal/mergetag"
	"github.com/gazette-news/gazette/internal/scenario"
	"github.com/gazette-news/gazette/internal/sesmail"
	"github.com/gazette-news/gazette/internal/sqsqueue"
	"github.com/gazette-news/gazette/internal/token"
)

func init() {
	commands["bench"] = command{
		summary: "delivery benchmarks: bench cpu | bench e2e | bench all (last lines: name value)",
		run:     runBench,
	}
}

const benchUsage = `usage:
  gazette bench cpu [--recipients 10000] [--naive-recipients 10000] [--rounds 5] [--cpuprofile FILE]
  gazette bench e2e [--recipients 10000] [--max-send-rate 200] [--concurrency 2] [--stack DIR]
  gazette bench coldstart [--runs 5] [--bin out/bin] [--stack DIR]
  gazette bench all (all three; what make bench runs)

cpu measures this process's CPU time (getrusage: user + system) per
delivered recipient, against a fake SES v2 + DynamoDB server that runs in a
child process (so its CPU is not counted):
  bulk:  personalise (signed links, template data, List-Unsubscribe
         headers) + SendBulkEmail per 50 + the batch ledger (claim, then
         one write of the outcomes that also releases the claim) + the
         reputation guard's and the departures' reads, cached as in
         send-batch
  naive: hermes render per recipient (digest.Render) + Personalize +
         SendEmail + a ledger claim and record per recipient

e2e delivers one issue to --recipients addresses on the running local
stack (moto, SES emulator; out/stack or $GAZETTE_STACK_DIR): batches of 50
on an SQS queue of its own, consumed by --concurrency in-process send-batch
instances (the Lambda event source's MaximumConcurrency), each paced to
floor(max-send-rate / concurrency) per second, the ledger in the stack's
table. It reports the achieved rate against --max-send-rate (the emulator
enforces no rate: the configured rate stands in for GetAccount's), the
busiest 1-second window (client send times), and from SES's store the
duplicates and skips.

The bulk path, the SES call alone (the bulk path's SendBulkEmail calls
with the messages made once) and the ledger alone (each batch's claim and
record with the outcomes made once) are measured --rounds times, the bulk
path a fresh issue each round. Each figure is the median round;
bulk_cpu_us_min and bulk_cpu_us_max give the spread within the run.

coldstart starts each function of the running local stack fresh under
aws-lambda-rie --runs times, as Lambda starts a new execution environment,
and reports its bootstrap's size, whether it links hermes (which only the
functions that render mail need), and the median init time: the first
invocation's time less a warm invocation's. The probes do as little as
each function allows: an empty SQS batch, an HTTP request for a page that
does not exist, and for publish-digest an action it refuses. Its logs go
to <stack>/coldstart/.

--cpuprofile (or $GAZETTE_BENCH_CPUPROFILE) writes a pprof CPU profile of
the bulk path's measured rounds only.

The last lines printed are "name value" pairs.
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, args, code, ok := subcommand(args, benchUsage, stderr)
	if !ok {
		return code
	}
	if sub == "fake-aws" {
		return serveFakeAWS(stdout, stderr)
	}
	fs := flag.NewFlagSet("bench "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage) }
	recipients := fs.Int("recipients", 10000, "recipients of the issue")
	naive := fs.Int("naive-recipients", 10000, "recipients for the naive path (its cost per recipient is flat)")
	rounds := fs.Int("rounds", 5, "times the bulk path, the SES call alone and the ledger alone are measured; each figure is the median round (cpu)")
	rate := fs.Float64("max-send-rate", 200, "account MaxSendRate to pace to (e2e)")
	concurrency := fs.Int("concurrency", 2, "send-batch instances (e2e)")
	stackDir := fs.String("stack", "", "local stack state directory (default $GAZETTE_STACK_DIR or out/stack)")
	cpuprofile := fs.String("cpuprofile", os.Getenv("GAZETTE_BENCH_CPUPROFILE"), "write a CPU profile of the bulk path's measured loop to this file (cpu)")
	runs := fs.Int("runs", 5, "cold starts per function (coldstart)")
	binDir := fs.String("bin", "out/bin", "directory holding <folder>/bootstrap for each function (coldstart)")
	templatePath := fs.String("template", "template.yaml", "SAM template whose SendBatchFunction GOGC/GOMEMLIMIT this process runs with")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rt, err := applySendBatchRuntime(*templatePath)
	if err != nil {
		fmt.Fprintf(stderr, "gazette bench: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "runtime: %s (SendBatchFunction's, from %s)\n", rt, *templatePath)
	var pairs [][2]string
	switch sub {
	case "cpu":
		pairs, err = benchCPU(ctx, *recipients, *naive, *rounds, *cpuprofile, stderr)
	case "e2e":
		pairs, err = benchE2E(ctx, *stackDir, *recipients, *rate, *concurrency, stderr)
	case "coldstart":
		pairs, err = benchColdStart(ctx, *stackDir, *binDir, *runs, stderr)
	case "all":
		if pairs, err = benchCPU(ctx, *recipients, *naive, *rounds, *cpuprofile, stderr); err == nil {
			var more [][2]string
			if more, err = benchColdStart(ctx, *stackDir, *binDir, *runs, stderr); err == nil {
				pairs = append(pairs, more...)
				more, err = benchE2E(ctx, *stackDir, *recipients, *rate, *concurrency, stderr)
				pairs = append(pairs, more...)
			}
		}
	default:
		fmt.Fprintf(stderr, "gazette bench: unknown subcommand %q\n\n%s", sub, benchUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "gazette bench %s: %v\n", sub, err)
		return 1
	}
	for _, p := range pairs {
		fmt.Fprintf(stdout, "%s %s\n", p[0], p[1])
	}
	return 0
}

// ---------------------------------------------------------------- CPU

// applySendBatchRuntime gives this process the runtime settings the
// template gives the send-batch function (GOGC, GOMEMLIMIT, GOMAXPROCS), so
// that the bench measures what production runs; it returns them for the
// report.
func applySendBatchRuntime(path string) (string, error) {
	t, err := localstack.LoadTemplate(path)
	if err != nil {
		return "", err
	}
	r := t.Resources["SendBatchFunction"]
	if r == nil {
		return "", fmt.Errorf("%s: no SendBatchFunction", path)
	}
	env, _ := r.Properties["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	var parts []string
	if v, ok := vars["GOGC"].(string); ok {
		pct, err := strconv.Atoi(v)
		if v == "off" {
			pct, err = -1, nil
		}
		if err != nil {
			return "", fmt.Errorf("%s: SendBatchFunction GOGC %q: %w", path, v, err)
		}
		debug.SetGCPercent(pct)
		parts = append(parts, "GOGC="+v)
	}
	if v, ok := vars["GOMEMLIMIT"].(string); ok {
		n, err := parseMemLimit(v)
		if err != nil {
			return "", fmt.Errorf("%s: SendBatchFunction GOMEMLIMIT %q: %w", path, v, err)
		}
		debug.SetMemoryLimit(n)
		parts = append(parts, "GOMEMLIMIT="+v)
	}
	if v, ok := vars["GOMAXPROCS"].(string); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", fmt.Errorf("%s: SendBatchFunction GOMAXPROCS %q is not a positive number", path, v)
		}
		runtime.GOMAXPROCS(n)
		parts = append(parts, "GOMAXPROCS="+v)
	}
	if len(parts) == 0 {
		return "Go defaults", nil
	}
	return strings.Join(parts, " "), nil
}

// parseMemLimit reads a GOMEMLIMIT value: bytes with an optional B, KiB,
// MiB, GiB or TiB suffix.
func parseMemLimit(v string) (int64, error) {
	mult := int64(1)
	for i, suffix := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if strings.HasSuffix(v, suffix) {
			v = strings.TrimSuffix(v, suffix)
			mult = int64(1) << (10 * (4 - i))
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a byte count")
	}
	return n * mult, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchIssue is a five-article issue, a typical digest.
func benchIssue() gazette.Issue {
	issue := gazette.Issue{Number: 7, Date: time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)}
	para := strings.Repeat("The council approved the plan after a long debate about costs and timing. ", 6)
	for i := range 5 {
		issue.Articles = append(issue.Articles, gazette.Article{
			ID: fmt.Sprintf("a%d", i), Slug: fmt.Sprintf("article-%d", i), Title: fmt.Sprintf("Harbour plan, part %d, gets the go-ahead", i+1),
			Summary: "The council approved the harbour redevelopment after a four-hour hearing.", Paragraphs: []string{para, para},
			Topics: []string{"news"}, Words: 200, Language: "en",
		})
	}
	return issue
}

var benchBrand = digest.Brand{Name: "Gazette", Link: "https://news.example", PostalAddress: "Gazette, 1 Example Street", Why: "You subscribed."}

func benchRecipients(n int, run string) []gazette.Recipient {
	rs := make([]gazette.Recipient, n)
	for i := range rs {
		email := fmt.Sprintf("b%05d+%s@example.com", i, run)
		rs[i] = gazette.Recipient{SubscriberID: gazette.SubscriberID(email), Email: email, Name: fmt.Sprintf("Reader %d", i)}
	}
	return rs
}

func benchLinks() (token.Links, error) {
	signer, err := token.NewSigner([]byte("bench-key-0123456789abcdef0123456789abcdef"))
	return token.Links{Base: "https://news.example", Signer: signer}, err
}

func fakeAWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1, HTTPClient: awsconfig.HTTPClient(),
	}
}

// noLimit lets everything through: the CPU bench measures work, not waiting.
type noLimit struct{}

func (noLimit) Wait(context.Context, int) error { return nil }

func benchCPU(ctx context.Context, n, naiveN, rounds int, profile string, log io.Writer) ([][2]string, error) {
	if rounds < 1 {
		return nil, fmt.Errorf("--rounds %d: want at least 1", rounds)
	}
	addr, stop, err := startFakeAWS(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	cfg := fakeAWSConfig("http://" + addr)
	ses := sesmail.New(sesv2.NewFromConfig(cfg))
	db := dynamodb.NewFromConfig(cfg)
	ledger := dynamo.NewLedger(db, "bench-ledger")
	links, err := benchLinks()
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	issue := benchIssue()

	// Bulk: the production path, rendering once (not counted per recipient:
	// publish does it once per issue).
	svc := &delivery.Service{
		Ledger: ledger, Sender: sesmail.BulkSender{Client: ses, From: "newsletter@example.com"},
		Limiter: noLimit{}, Links: links, Chunk: gazette.MaxBatchRecipients, Lease: 2 * time.Minute, Now: time.Now, Log: quiet,
		// As send-batch wires them: the guard's read and the departures'
		// read, each cached per instance.
		Guard: &delivery.Guard{Store: dynamo.NewIssues(db, "bench-issues"), MaxBounceRate: 0.05, MaxComplaintRate: 0.001,
			MinSent: 100, CacheFor: delivery.HealthyFor, Now: time.Now, Log: quiet},
		Departures: dynamo.NewSubscribers(db, "bench-subscribers"),
	}
	rs := benchRecipients(n, "cpu")
	// Warm up connections and lazy initialisation.
	if _, err := svc.SendBatch(ctx, gazette.SendBatch{Issue: 1, Batch: 0, Template: "t", Recipients: rs[:1]}); err != nil {
		return nil, fmt.Errorf("bulk warm-up: %w", err)
	}
	runtime.GC()
	stopProfile := func() error { return nil }
	if profile != "" {
		pf, err := os.Create(profile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			_ = pf.Close()
			return nil, err
		}
		stopProfile = sync.OnceValue(func() error {
			pprof.StopCPUProfile()
			return pf.Close()
		})
		defer func() { _ = stopProfile() }() // on an error return
	}
	// The bulk path runs `rounds` times, each a fresh issue so that every
	// claim is new; the figure is the median round. One round's CPU time
	// moves by ±15 % on a shared 2-vCPU VM, and the min and max say how much
	// it moved in this run.
	planned := time.Now()
	bulkRounds := make([]time.Duration, rounds)
	wall := time.Now()
	for r := range bulkRounds {
		issue := 7 + r
		start := cpuTime()
		for i := 0; i < n; i += gazette.MaxBatchRecipients {
			b := gazette.SendBatch{Issue: issue, Batch: i/gazette.MaxBatchRecipients + 1, Template: "gazette-issue-" + strconv.Itoa(issue),
				PlannedAt: planned, Recipients: rs[i:min(n, i+gazette.MaxBatchRecipients)]}
			if _, err := svc.SendBatch(ctx, b); err != nil {
				return nil, fmt.Errorf("bulk: %w", err)
			}
		}
		bulkRounds[r] = cpuTime() - start
	}
	if err := stopProfile(); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "bulk path (batch ledger): %d rounds of %d recipients, CPU %v, wall %v\n",
		rounds, n, bulkRounds, time.Since(wall).Round(time.Millisecond))

	// The SES call alone: the same bulk calls with the messages made once
	// beforehand, no ledger, no personalising. The floor the bulk path
	// stands on: the SDK's serialising, signing and HTTP round trip.
	sender := sesmail.BulkSender{Client: ses, From: "newsletter@example.com"}
	msgs := make([]delivery.Message, gazette.MaxBatchRecipients)
	for i, r := range rs[:len(msgs)] {
		unsub, err := links.UnsubscribeURL(r.SubscriberID)
		if err != nil {
			return nil, err
		}
		msgs[i] = delivery.Message{To: r.Email, Data: mergetag.RecipientData(r.Name, unsub, unsub),
			Headers: []delivery.Header{{Name: "List-Unsubscribe", Value: "<" + unsub + ">"}}}
	}
	runtime.GC()
	tags := map[string]string{"issue": "7", "batch": "1"}
	sesRounds := make([]time.Duration, rounds)
	for r := range sesRounds {
		start := cpuTime()
		for i := 0; i < n; i += len(msgs) {
			if _, err := sender.SendBulk(ctx, "gazette-issue-7", tags, delivery.OneClick, msgs); err != nil {
				return nil, fmt.Errorf("SES call alone: %w", err)
			}
		}
		sesRounds[r] = cpuTime() - start
	}

	// The ledger alone: the claim and the record of each batch, outcomes
	// made beforehand. With the SES call alone, the floor under the bulk
	// path that is not our own code.
	recs := make([]delivery.Record, gazette.MaxBatchRecipients)
	for i, r := range rs[:len(recs)] {
		recs[i] = delivery.Record{Recipient: r.SubscriberID, State: delivery.Sent, MessageID: fakeMessageID(int64(i))}
	}
	runtime.GC()
	ledgerRounds := make([]time.Duration, rounds)
	for r := range ledgerRounds {
		start := cpuTime()
		for i := 0; i < n; i += len(recs) {
			k := delivery.KeyOf(gazette.SendBatch{Issue: 100 + r, Batch: i/len(recs) + 1, Recipients: rs[:len(recs)]})
			if _, _, err := ledger.Claim(ctx, k, "ledger-alone", len(recs), time.Now(), 2*time.Minute); err != nil {
				return nil, fmt.Errorf("ledger alone: %w", err)
			}
			if err := ledger.Record(ctx, k, "ledger-alone", recs, delivery.Release{End: true, Done: true}); err != nil {
				return nil, fmt.Errorf("ledger alone: %w", err)
			}
		}
		ledgerRounds[r] = cpuTime() - start
	}

	// Naive: render per recipient, one SendEmail each.
	nrs := benchRecipients(naiveN, "naive")
	runtime.GC()
	start, wall := cpuTime(), time.Now()
	for i, r := range nrs {
		// One batch of one per recipient: a claim and a record each.
		k := delivery.KeyOf(gazette.SendBatch{Issue: 9, Batch: i + 1, Recipients: nrs[i : i+1]})
		if _, _, err := ledger.Claim(ctx, k, "naive", 1, time.Now(), 2*time.Minute); err != nil {
			return nil, err
		}
		e, err := digest.Render(issue, benchBrand, digest.Links{ArchiveBase: "https://news.example/archive"}, digest.Options{})
		if err != nil {
			return nil, err
		}
		unsub, err := links.UnsubscribeURL(r.SubscriberID)
		if err != nil {
			return nil, err
		}
		prefs, err := links.PreferencesURL(r.SubscriberID)
		if err != nil {
			return nil, err
		}
		e = mergetag.Personalize(e, mergetag.RecipientData(r.Name, unsub, prefs))
		id, err := ses.Send(ctx, sesmail.Message{From: "newsletter@example.com", To: r.Email, Subject: e.Subject, HTML: e.HTML, Text: e.Text,
			Headers: []sesmail.Header{{Name: "List-Unsubscribe", Value: "<" + unsub + ">"}, {Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}}})
		if err != nil {
			return nil, err
		}
		rs := []delivery.Record{{Recipient: r.SubscriberID, State: delivery.Sent, MessageID: id}}
		if err := ledger.Record(ctx, k, "naive", rs, delivery.Release{End: true, Done: true}); err != nil {
			return nil, err
		}
	}
	naive := cpuTime() - start
	fmt.Fprintf(log, "naive path: %d recipients, CPU %v, wall %v\n", naiveN, naive, time.Since(wall).Round(time.Millisecond))
	perRecipient := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
	bulkUS := perRecipient(median(bulkRounds), n)
	naiveUS := perRecipient(naive, naiveN)
	us := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	return [][2]string{
		{"recipients", strconv.Itoa(n)},
		{"rounds", strconv.Itoa(rounds)},
		{"bulk_cpu_us_per_recipient", us(bulkUS)},
		{"bulk_cpu_us_min", us(perRecipient(slices.Min(bulkRounds), n))},
		{"bulk_cpu_us_max", us(perRecipient(slices.Max(bulkRounds), n))},
		{"ses_call_cpu_us_per_recipient", us(perRecipient(median(sesRounds), n))},
		{"ledger_cpu_us_per_recipient", us(perRecipient(median(ledgerRounds), n))},
		{"naive_cpu_us_per_recipient", us(naiveUS)},
		{"naive_over_bulk", fmt.Sprintf("%.0f", naiveUS/bulkUS)},
	}, nil
}

// median is the middle of ds (the upper middle of an even count); ds is
// left as it was.
func median(ds []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

// startFakeAWS runs `gazette bench fake-aws` as a child process and returns
// its address; stop ends that child (by its own pid) and waits for it.
func startFakeAWS(ctx context.Context) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, self, "bench", "fake-aws")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("fake AWS server did not start: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// serveFakeAWS answers just enough of SES v2 (SendBulkEmail, SendEmail) and
// DynamoDB (every call answered with an empty JSON object: no item, nothing
// unprocessed) for the CPU bench, as fast as it can.
func serveFakeAWS(stdout, stderr io.Writer) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, ln.Addr().String())
	var ids atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/outbound-bulk-emails"):
			// Read to the end before answering: a request body left unread
			// makes net/http close the connection after the reply, which
			// the client sees as a broken read once replies outgrow a
			// buffer.
			body, err := io.ReadAll(r.Body)
			var in struct{ BulkEmailEntries []json.RawMessage }
			if err == nil {
				err = json.Unmarshal(body, &in)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var b strings.Builder
			b.WriteString(`{"BulkEmailEntryResults":[`)
			for i := range in.BulkEmailEntries {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"Status":"SUCCESS","MessageId":"%s"}`, fakeMessageID(ids.Add(1)))
			}
			b.WriteString(`]}`)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, b.String())
		case strings.HasSuffix(r.URL.Path, "/outbound-emails"):
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"MessageId":"%s"}`, fakeMessageID(ids.Add(1)))
		case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810."):
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			io.WriteString(w, `{}`)
		default:
			http.Error(w, "fake AWS: not implemented: "+r.URL.Path, http.StatusNotImplemented)
		}
	})
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// fakeMessageID is the nth message ID in SES's shape and length (60
// characters), since the ledger stores each one: a shorter ID would make
// the record writes look cheaper than they are.
func fakeMessageID(n int64) string {
	return fmt.Sprintf("0100018c%08x-5a3e1f2b-7c4d-4e8f-9a0b-%012x-000000", uint32(n>>32), n)
}

// ---------------------------------------------------------------- end to end

// sendTimes records when each SES call left, and how many messages it held.
type sendTimes struct {
	delivery.Sender
	mu sync.Mutex
	at []time.Time
	n  []int
}

func (s *sendTimes) SendBulk(ctx context.Context, template string, tags map[string]string, shared []delivery.Header, msgs []delivery.Message) ([]delivery.Outcome, error) {
	s.mu.Lock()
	s.at, s.n = append(s.at, time.Now()), append(s.n, len(msgs))
	s.mu.Unlock()
	return s.Sender.SendBulk(ctx, template, tags, shared, msgs)
}

// busiest is the most messages sent in any window [t, t+w). s.at is in
// order already: SendBulk appends time.Now() under s.mu.
func (s *sendTimes) busiest(w time.Duration) int {
	best, sum, j := 0, 0, 0
	for i, t := range s.at {
		for j < len(s.at) && s.at[j].Before(t.Add(w)) {
			sum += s.n[j]
			j++
		}
		best = max(best, sum)
		sum -= s.n[i]
	}
	return best
}

// readBenchStack reads the stack in dir, else $GAZETTE_STACK_DIR, else the
// repository's out/stack, and returns it with the directory it came from.
func readBenchStack(dir string) (*localstack.Stack, string, error) {
	if dir == "" {
		var err error
		if dir, err = localstack.StackDir(); err != nil {
			return nil, "", err
		}
	}
	st, err := localstack.ReadStack(filepath.Join(dir, "stack.json"))
	if err != nil {
		return nil, "", err
	}
	return st, dir, nil
}

func benchE2E(ctx context.Context, stackDir string, n int, rate float64, concurrency int, log io.Writer) ([][2]string, error) {
	st, _, err := readBenchStack(stackDir)
	if err != nil {
		return nil, err
	}
	table, err := st.TableName("LedgerTable")
	if err != nil {
		return nil, err
	}
	c := st.Clients()
	run := fmt.Sprintf("bench%d", time.Now().UnixNano())
	issue := 800_000_000 + int(time.Now().Unix()%99_000_000)
	subject := "Bench issue " + run
	ses := sesmail.New(c.SESv2)
	if err := ses.PutTemplate(ctx, sesmail.Template{Name: run, Subject: subject,
		HTML: "<p>Hello {{" + mergetag.KeyName + "}}</p><p><a href=\"{{" + mergetag.KeyUnsubscribeURL + "}}\">Unsubscribe</a></p>",
		Text: "Hello {{" + mergetag.KeyName + "}}\n{{" + mergetag.KeyUnsubscribeURL + "}}\n"}); err != nil {
		return nil, err
	}
	q, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(run),
		Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		return nil, err
	}
	queue := aws.ToString(q.QueueUrl)
	defer func() {
		_, _ = c.SQS.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: aws.String(queue)})
	}()
	rs := benchRecipients(n, run)
	var batches []any
	for i := 0; i < n; i += gazette.MaxBatchRecipients {
		batches = append(batches, gazette.SendBatch{Issue: issue, Batch: len(batches) + 1, Template: run, Recipients: rs[i:min(n, i+gazette.MaxBatchRecipients)]})
	}
	if err := sqsqueue.New(c.SQS, queue).SendJSON(ctx, batches); err != nil {
		return nil, err
	}
	links, err := benchLinks()
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	per := delivery.PerInstance(rate, concurrency)
	times := &sendTimes{Sender: sesmail.BulkSender{Client: ses, From: "newsletter@example.com"}}
	ledger := dynamo.NewLedger(c.DynamoDB, table)
	fmt.Fprintf(log, "e2e: %d recipients in %d batches, MaxSendRate %v, %d instances of %d/s (chunk %d)\n",
		n, len(batches), rate, concurrency, per, delivery.ChunkFor(per))

	var done atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, concurrency)
	wall := time.Now()
	for range concurrency {
		h := &sendHandler{svc: &delivery.Service{
			Ledger: ledger, Sender: times, Links: links, Chunk: delivery.ChunkFor(per),
			// startFull as in send-batch: a fresh instance waits one window.
			Limiter: delivery.NewWindowLimiter(per, time.Second+delivery.WindowMargin, delivery.RealClock{}, true),
			Lease:   2 * time.Minute, Now: time.Now, Log: quiet,
		}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.consume(ctx, c.SQS, queue, &done, int64(len(batches))); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	elapsed := time.Since(wall)

	span := times.at[len(times.at)-1].Sub(times.at[0]) + time.Second
	sent := 0
	for _, k := range times.n {
		sent += k
	}
	achieved := float64(sent) / span.Seconds()
	busiest := times.busiest(time.Second)

	all, err := scenario.Mailbox{URL: st.Endpoints.SESv2}.All(ctx)
	if err != nil {
		return nil, err
	}
	got := map[string]int{}
	perSecond := map[int64]int{}
	for _, m := range all {
		if m.Subject != subject {
			continue
		}
		perSecond[m.At]++
		for _, to := range m.Destination.To {
			got[to]++
		}
	}
	dupes, skips := 0, 0
	for _, r := range rs {
		switch k := got[r.Email]; {
		case k == 0:
			skips++
		case k > 1:
			dupes += k - 1
		}
	}
	sesBusiest := 0
	for _, k := range perSecond {
		sesBusiest = max(sesBusiest, k)
	}
	fmt.Fprintf(log, "e2e: delivered in %v; %.1f/s over the send span; busiest 1 s window %d (client), busiest second at SES %d\n",
		elapsed.Round(time.Millisecond), achieved, busiest, sesBusiest)
	return [][2]string{
		{"e2e_recipients", strconv.Itoa(n)},
		{"e2e_seconds", fmt.Sprintf("%.1f", elapsed.Seconds())},
		{"max_send_rate", fmt.Sprintf("%.0f", rate)},
		{"achieved_rate", fmt.Sprintf("%.1f", achieved)},
		{"rate_ratio", fmt.Sprintf("%.3f", achieved/rate)},
		{"max_in_any_1s_window", strconv.Itoa(busiest)},
		{"max_in_1s_window_ratio", fmt.Sprintf("%.3f", float64(busiest)/rate)},
		{"duplicates", strconv.Itoa(dupes)},
		{"skips", strconv.Itoa(skips)},
	}, nil
}

// sendHandler is one send-batch instance fed by an SQS queue, as Lambda's
// event source mapping feeds it (batch size 1).
type sendHandler struct{ svc *delivery.Service }

func (h *sendHandler) consume(ctx context.Context, api *sqs.Client, queue string, done *atomic.Int64, total int64) error {
	for done.Load() < total {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		if err != nil {
			return err
		}
		for _, m := range out.Messages {
			var b gazette.SendBatch
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &b); err != nil {
				return err
			}
			if _, err := h.svc.SendBatch(ctx, b); err != nil {
				// Back to the queue at once (the local stack's RetryDelay).
				_, _ = api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queue),
					ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 1})
				continue
			}
			if _, err := api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return err
			}
			done.Add(1)
		}
	}
	return nil
}
