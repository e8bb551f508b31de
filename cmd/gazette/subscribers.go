package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gazette-news/gazette/internal/awsconfig"
	"github.com/gazette-news/gazette/internal/dynamo"
	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

func init() {
	commands["subscribers"] = command{
		summary: "import, export or forget subscribers: subscribers import|export|forget …",
		run:     runSubscribers,
	}
}

// subscriberStore is what the subscribers command needs from the table
// (dynamo.Subscribers in production, a map in tests).
type subscriberStore interface {
	LoadMany(ctx context.Context, ids []string) (map[string]subscription.Record, error)
	PutMany(ctx context.Context, rs []subscription.Record) error
	Each(ctx context.Context, fn func(subscription.Record) error) error
	Forget(ctx context.Context, id string, at time.Time) error
}

const subscribersUsage = `usage:
  gazette subscribers import [--confirm] [--status S] [--topics LIST] [--dry-run] [--table T] FILE.csv
  gazette subscribers export [--table T] > FILE.csv
  gazette subscribers forget [--table T] EMAIL

import reads a Mailchimp or listmonk export (or any CSV with a header row
naming at least an email column; name, first/last name, status, topics or
tags, and dates are used when present). Addresses are deduplicated ignoring
case; unsubscribed, bounced and complained addresses, in the file or
already in the table, stay suppressed; rejected rows are listed with their
line numbers.

Without --confirm, subscribed rows are imported as pending: they get no
mail until they confirm. --confirm imports them as confirmed, and they get
the next issue without any confirmation mail.
CONSENT IS YOUR RESPONSIBILITY: use --confirm only for people who gave
their consent to receive this newsletter (for example by a double opt-in
in the tool you export from), and keep the proof.

export writes every subscriber with an address as CSV to standard output.

forget erases one person's address, name and topics; the record stays as a
suppression under the address's hash, so the address is neither mailed nor
re-imported by mistake.

The table is --table or $SUBSCRIBERS_TABLE; AWS settings (region,
credentials, AWS_ENDPOINT_URL for the local stack) come from the
environment.
`

// newSubscriberStore connects to the table; replaced in tests.
var newSubscriberStore = func(ctx context.Context, table string) (subscriberStore, error) {
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	return dynamo.NewSubscribers(dynamodb.NewFromConfig(cfg), table), nil
}

func runSubscribers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, args, code, ok := subcommand(args, subscribersUsage, stderr)
	if !ok {
		return code
	}
	fs := flag.NewFlagSet("subscribers "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, subscribersUsage) }
	table := fs.String("table", os.Getenv("SUBSCRIBERS_TABLE"), "subscribers table name")
	var opts importOptions
	var topics string
	switch sub {
	case "import":
		fs.BoolVar(&opts.Confirm, "confirm", false, "import subscribed rows as confirmed (consent is your responsibility)")
		fs.StringVar(&opts.DefaultStatus, "status", "", "status of rows without a status column, e.g. unsubscribed for Mailchimp's unsubscribed export")
		fs.StringVar(&topics, "topics", envOr("TOPICS", subscription.DefaultTopics), "comma-separated topics subscribers may have; other tags are ignored")
		fs.BoolVar(&opts.DryRun, "dry-run", false, "check the file and report; write nothing")
	case "export", "forget":
	default:
		fmt.Fprintf(stderr, "gazette subscribers: unknown subcommand %q\n\n%s", sub, subscribersUsage)
		return 2
	}
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *table == "" {
		fmt.Fprintln(stderr, "gazette subscribers: no table: pass --table or set SUBSCRIBERS_TABLE")
		return 2
	}
	wantArgs := map[string]int{"import": 1, "export": 0, "forget": 1}[sub]
	if fs.NArg() != wantArgs {
		fs.Usage()
		return 2
	}
	store, err := newSubscriberStore(ctx, *table)
	if err != nil {
		fmt.Fprintf(stderr, "gazette subscribers: %v\n", err)
		return 1
	}
	switch sub {
	case "import":
		opts.Topics = subscription.ParseTopics(topics)
		return runImport(ctx, fs.Arg(0), store, opts, stdout, stderr)
	case "export":
		if err := exportCSV(ctx, store, stdout); err != nil {
			fmt.Fprintf(stderr, "gazette subscribers export: %v\n", err)
			return 1
		}
		return 0
	}
	return runForget(ctx, fs.Arg(0), store, stdout, stderr)
}

// parseInterspersed parses flags before and after positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func runImport(ctx context.Context, path string, store subscriberStore, opts importOptions, stdout, stderr io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "gazette subscribers import: %v\n", err)
		return 1
	}
	defer f.Close()
	opts.Progress = stderr
	rep, err := importCSV(ctx, f, store, opts)
	for _, r := range rep.Rejected {
		fmt.Fprintf(stderr, "line %d: rejected: %s\n", r.Line, r.Reason)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(stderr, "line %d: %s\n", w.Line, w.Reason)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gazette subscribers import: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, rep.Summary(opts.DryRun))
	return 0
}

func runForget(ctx context.Context, email string, store subscriberStore, stdout, stderr io.Writer) int {
	addr, err := subscription.NormalizeAddress(email)
	if err != nil {
		// Erase what may have been stored under a looser spelling too.
		addr = gazette.NormalizeEmail(email)
	}
	id := gazette.SubscriberID(addr)
	if err := store.Forget(ctx, id, time.Now().UTC()); err != nil {
		fmt.Fprintf(stderr, "gazette subscribers forget: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "forgotten: subscriber %s; only this hash is kept, as a suppression\n", id)
	return 0
}

// importOptions control importCSV.
type importOptions struct {
	// Confirm imports subscribed rows as confirmed instead of pending.
	Confirm bool
	// DefaultStatus is the status of rows without one ("" = subscribed).
	DefaultStatus string
	// Topics are the allowed topics; tags outside them are ignored.
	Topics []string
	DryRun bool
	// Progress gets a progress line per chunk (nil: none).
	Progress io.Writer
	// Now is the clock (time.Now).
	Now func() time.Time
}

// rowIssue is a rejected or noteworthy row, by its line in the file.
type rowIssue struct {
	Line   int
	Reason string
}

// importReport counts what an import did.
type importReport struct {
	Rows, New, Updated, Unchanged, KeptSuppressed, Duplicates int
	Rejected, Warnings                                        []rowIssue
}

// Summary is the one-line result for the operator.
func (r importReport) Summary(dryRun bool) string {
	verb := "imported"
	if dryRun {
		verb = "dry run, nothing written"
	}
	return fmt.Sprintf("%s: %d rows, %d new, %d updated, %d unchanged, %d kept suppressed, %d duplicates merged, %d rejected",
		verb, r.Rows, r.New, r.Updated, r.Unchanged, r.KeptSuppressed, r.Duplicates, len(r.Rejected))
}

// importRow is one valid row, after normalisation.
type importRow struct {
	line      int
	email     string
	name      string
	topics    []string
	status    gazette.SubscriberStatus
	created   time.Time
	confirmed time.Time
}

// columns maps a header to the index of each field we read (-1: absent).
type columns struct {
	email, name, first, last, status, topics, created, confirmed int

	createdTime, confirmedTime *timeParser
}

// Header names, lower case, in order of preference: Mailchimp ("Email
// Address", "First Name", "OPTIN_TIME", "CONFIRM_TIME", "TAGS") and
// listmonk ("email", "name", "status", "created_at") among others.
var columnNames = map[string][]string{
	"email":     {"email", "email address", "e-mail", "email_address", "e-mail address", "mail"},
	"name":      {"name", "full name", "full_name", "display name"},
	"first":     {"first name", "first_name", "firstname", "fname"},
	"last":      {"last name", "last_name", "lastname", "lname"},
	"status":    {"status", "subscription status", "subscription_status", "state"},
	"topics":    {"topics", "topic", "tags", "lists", "groups", "interests"},
	"created":   {"optin_time", "created_at", "created", "subscribed_at", "date added", "timestamp_opt"},
	"confirmed": {"confirm_time", "confirmed_at", "confirmed"},
}

func findColumns(header []string) (columns, error) {
	idx := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := idx[h]; !dup {
			idx[h] = i
		}
	}
	find := func(field string) int {
		for _, n := range columnNames[field] {
			if i, ok := idx[n]; ok {
				return i
			}
		}
		return -1
	}
	c := columns{
		email: find("email"), name: find("name"), first: find("first"), last: find("last"),
		status: find("status"), topics: find("topics"), created: find("created"), confirmed: find("confirmed"),
		createdTime: &timeParser{}, confirmedTime: &timeParser{},
	}
	if c.email < 0 {
		return c, fmt.Errorf("the header row has no email column (looked for %s)", strings.Join(columnNames["email"], ", "))
	}
	return c, nil
}

// importStatus maps the status words of common tools onto ours. The
// second result is false for a word we do not know.
func importStatus(s string) (gazette.SubscriberStatus, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "subscribed", "confirmed", "enabled", "active", "opted in", "opt-in", "yes", "true":
		return gazette.SubscriberConfirmed, true
	case "pending", "unconfirmed", "double_optin", "not confirmed":
		return gazette.SubscriberPending, true
	case "unsubscribed", "unsubscribe", "blocklisted", "blacklisted", "disabled", "opted out", "opt-out", "inactive", "archived":
		return gazette.SubscriberUnsubscribed, true
	case "cleaned", "bounced", "bounce", "hard bounce", "hardbounce":
		return gazette.SubscriberBounced, true
	case "complained", "complaint", "spam", "abuse":
		return gazette.SubscriberComplained, true
	}
	return "", false
}

// rank orders statuses by how much they restrict mail: when two rows or a
// row and the table disagree, the stronger suppression wins.
func rank(s gazette.SubscriberStatus) int {
	switch s {
	case gazette.SubscriberComplained:
		return 4
	case gazette.SubscriberBounced:
		return 3
	case gazette.SubscriberUnsubscribed:
		return 2
	case gazette.SubscriberConfirmed:
		return 1
	}
	return 0
}

var importTimeLayouts = []string{
	time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05.999999-07",
	"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02", "01/02/2006 15:04", "01/02/2006",
}

// timeParser parses the dates of one column, trying first the layout that
// worked last: an export uses one layout throughout, and failed attempts
// cost more than the parse itself.
type timeParser struct{ last int }

func (p *timeParser) parse(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(importTimeLayouts[p.last], s); err == nil {
		return t.UTC()
	}
	for i, l := range importTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			p.last = i
			return t.UTC()
		}
	}
	return time.Time{}
}

// importChunk is how many rows are read and written per store round trip
// (LoadMany takes 100 IDs a call, PutMany 25 items a call).
const importChunk = 1000

// importCSV reads a CSV export and merges it into the store. Rows that
// cannot be imported are reported in the result, not as an error; the
// error is for an unreadable file or a failing store.
func importCSV(ctx context.Context, r io.Reader, store subscriberStore, opts importOptions) (importReport, error) {
	var rep importReport
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	defStatus := gazette.SubscriberConfirmed
	if opts.DefaultStatus != "" {
		s, ok := importStatus(opts.DefaultStatus)
		if !ok {
			return rep, fmt.Errorf("--status %q is not a status (subscribed, pending, unsubscribed, cleaned, complained)", opts.DefaultStatus)
		}
		defStatus = s
	}
	allowed := map[string]bool{}
	for _, t := range opts.Topics {
		allowed[t] = true
	}

	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return rep, fmt.Errorf("read header: %w", err)
	}
	cols, err := findColumns(header)
	if err != nil {
		return rep, err
	}
	field := func(rec []string, i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}

	var rows []importRow
	byID := map[string]int{} // subscriber ID → index in rows
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			rep.Rows++
			rep.Rejected = append(rep.Rejected, rowIssue{perr.StartLine, "malformed CSV: " + perr.Err.Error()})
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("read CSV: %w", err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		line, _ := cr.FieldPos(0)
		rep.Rows++
		row, reason := parseRow(rec, cols, field, defStatus, allowed)
		row.line = line
		if reason != "" {
			rep.Rejected = append(rep.Rejected, rowIssue{line, reason})
			continue
		}
		id := gazette.SubscriberID(row.email)
		if i, dup := byID[id]; dup {
			rep.Duplicates++
			first := &rows[i]
			rep.Warnings = append(rep.Warnings, rowIssue{line, fmt.Sprintf("duplicate of line %d (addresses compared ignoring case), merged", first.line)})
			if rank(row.status) > rank(first.status) {
				first.status = row.status
			}
			if first.name == "" {
				first.name = row.name
			}
			continue
		}
		byID[id] = len(rows)
		rows = append(rows, row)
	}

	done := 0
	for start := 0; start < len(rows); start += importChunk {
		chunk := rows[start:min(start+importChunk, len(rows))]
		ids := make([]string, len(chunk))
		for i, row := range chunk {
			ids[i] = gazette.SubscriberID(row.email)
		}
		existing, err := store.LoadMany(ctx, ids)
		if err != nil {
			return rep, fmt.Errorf("read existing subscribers: %w", err)
		}
		at := now().UTC()
		var writes []subscription.Record
		for i, row := range chunk {
			r, changed, kept := mergeRow(existing[ids[i]], ids[i], row, opts.Confirm, at)
			switch {
			case kept:
				rep.KeptSuppressed++
			case !changed:
				rep.Unchanged++
			case r.Version == 0:
				rep.New++
			default:
				rep.Updated++
			}
			if changed {
				writes = append(writes, r)
			}
		}
		if !opts.DryRun && len(writes) > 0 {
			if err := store.PutMany(ctx, writes); err != nil {
				return rep, fmt.Errorf("write subscribers (lines %d to %d): %w", chunk[0].line, chunk[len(chunk)-1].line, err)
			}
		}
		done += len(chunk)
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "\r%s %d/%d", progressBar(done, len(rows)), done, len(rows))
			if done == len(rows) {
				fmt.Fprintln(opts.Progress)
			}
		}
	}
	return rep, nil
}

func progressBar(done, total int) string {
	const width = 30
	n := width
	if total > 0 {
		n = done * width / total
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// parseRow validates one CSV record; a non-empty reason rejects it.
func parseRow(rec []string, c columns, field func([]string, int) string, defStatus gazette.SubscriberStatus, allowed map[string]bool) (importRow, string) {
	var row importRow
	email, err := subscription.NormalizeAddress(field(rec, c.email))
	if err != nil {
		return row, gazette.CodeOf(err) + ": " + errMessage(err)
	}
	name := field(rec, c.name)
	if name == "" {
		name = strings.TrimSpace(field(rec, c.first) + " " + field(rec, c.last))
	}
	if name, err = subscription.CleanName(name); err != nil {
		return row, gazette.CodeOf(err) + ": " + errMessage(err)
	}
	status := defStatus
	if c.status >= 0 {
		s, ok := importStatus(field(rec, c.status))
		if !ok {
			return row, fmt.Sprintf("unknown status %q", field(rec, c.status))
		}
		if field(rec, c.status) != "" {
			status = s
		}
	}
	var topics []string
	seen := map[string]bool{}
	for _, t := range strings.Split(field(rec, c.topics), ",") {
		t = strings.ToLower(strings.Trim(strings.TrimSpace(t), `"`))
		if allowed[t] && !seen[t] {
			seen[t] = true
			topics = append(topics, t)
		}
	}
	sort.Strings(topics)
	return importRow{
		email: email, name: name, topics: topics, status: status,
		created: c.createdTime.parse(field(rec, c.created)), confirmed: c.confirmedTime.parse(field(rec, c.confirmed)),
	}, ""
}

func errMessage(err error) string {
	var ge *gazette.Error
	if errors.As(err, &ge) && ge.Message != "" {
		return ge.Message
	}
	return err.Error()
}

// mergeRow applies an imported row to the existing record (zero Record if
// none). changed says whether to write; kept says a suppression in the
// table won over the row. Suppressions only ever get stronger, a confirmed
// record is never downgraded to pending, and subscribed rows become
// confirmed only with confirm.
func mergeRow(r subscription.Record, id string, row importRow, confirm bool, at time.Time) (rec subscription.Record, changed, kept bool) {
	want := row.status
	if want == gazette.SubscriberConfirmed && !confirm {
		want = gazette.SubscriberPending
	}
	why := subscription.WhyImport
	if r.Status == "" {
		r = subscription.Record{Subscriber: gazette.Subscriber{
			ID: id, Email: row.email, Name: row.name, Topics: row.topics, CreatedAt: row.created,
		}}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = at
		}
		r.Move(want, why, at)
		if want == gazette.SubscriberConfirmed {
			r.ConfirmedAt = row.confirmed
			if r.ConfirmedAt.IsZero() {
				r.ConfirmedAt = at
			}
		}
		// Imported pending rows do not expire: the operator decides what
		// happens to them (a re-permission campaign, or nothing).
		return r, true, false
	}
	if subscription.Suppressed(r.Status) && rank(want) <= rank(r.Status) {
		return r, false, true
	}
	if rank(want) <= rank(r.Status) {
		return r, false, false
	}
	// The row is stronger: pending → confirmed, or a new suppression.
	r.Move(want, why, at)
	if want == gazette.SubscriberConfirmed {
		r.ConfirmedAt = at
	}
	r.ExpiresAt, r.OptInAt = time.Time{}, time.Time{}
	if r.Email == "" {
		r.Email = row.email
	}
	if r.Name == "" {
		r.Name = row.name
	}
	return r, true, false
}

// exportCSV writes every subscriber that has an address, sorted by
// address. Values starting with a formula character are prefixed with a
// quote: names come from a public form and the file may be opened in a
// spreadsheet.
func exportCSV(ctx context.Context, store subscriberStore, w io.Writer) error {
	var recs []subscription.Record
	err := store.Each(ctx, func(r subscription.Record) error {
		if r.Email != "" {
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Email < recs[j].Email })
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"email", "name", "status", "topics", "created_at", "confirmed_at", "updated_at", "reason"}); err != nil {
		return err
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, r := range recs {
		if err := cw.Write([]string{
			r.Email, defuse(r.Name), string(r.Status), strings.Join(r.Topics, ","),
			ts(r.CreatedAt), ts(r.ConfirmedAt), ts(r.UpdatedAt), defuse(r.Reason),
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// defuse keeps a spreadsheet from reading a value as a formula.
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
