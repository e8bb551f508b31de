package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// memSubscriberStore is an in-memory subscriberStore.
type memSubscriberStore struct {
	mu     sync.Mutex
	recs   map[string]subscription.Record
	puts   int
	loaded int
}

func newMemSubscriberStore() *memSubscriberStore {
	return &memSubscriberStore{recs: map[string]subscription.Record{}}
}

func (m *memSubscriberStore) LoadMany(_ context.Context, ids []string) (map[string]subscription.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loaded += len(ids)
	out := map[string]subscription.Record{}
	for _, id := range ids {
		if r, ok := m.recs[id]; ok {
			out[id] = r
		}
	}
	return out, nil
}

func (m *memSubscriberStore) PutMany(_ context.Context, rs []subscription.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		r.Version++
		m.recs[r.ID] = r
		m.puts++
	}
	return nil
}

func (m *memSubscriberStore) Each(_ context.Context, fn func(subscription.Record) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *memSubscriberStore) Forget(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[id]
	r.ID = id
	if !subscription.Suppressed(r.Status) {
		r.Move(gazette.SubscriberUnsubscribed, subscription.WhyForget, at)
	}
	r.Email, r.Name, r.Topics = "", "", nil
	m.recs[id] = r
	return nil
}

func (m *memSubscriberStore) get(email string) subscription.Record {
	return m.recs[gazette.SubscriberID(email)]
}

func (m *memSubscriberStore) put(email string, st gazette.SubscriberStatus) {
	r := subscription.Record{Subscriber: gazette.Subscriber{ID: gazette.SubscriberID(email), Email: email, Name: "Stored"}, Version: 3}
	r.Move(st, "test", importNow.Add(-time.Hour))
	m.recs[r.ID] = r
}

var importNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const mailchimpCSV = `Email Address,First Name,Last Name,OPTIN_TIME,CONFIRM_TIME,TAGS
ann@example.com,Ann,Lee,2024-03-01 10:00:00,2024-03-01 10:05:00,"Science,Gossip"
ANN@Example.com,Annie,,,,
not-an-address,Bob,,,,
bob@example.com,"Bob
Injected",,,,
carol@bücher.example,Carol,,,,sport
dave@example.com,Dave,,,,
erin@example.com,Erin,,,,
`

const listmonkCSV = `uuid,email,name,attributes,status,created_at,updated_at
1,ann@example.com,Ann,{},enabled,2024-01-02T03:04:05Z,2024-01-02T03:04:05Z
2,bob@example.com,Bob,{},blocklisted,2024-01-02T03:04:05Z,2024-01-02T03:04:05Z
3,carol@example.com,Carol,{},unconfirmed,2024-01-02T03:04:05Z,2024-01-02T03:04:05Z
4,dave@example.com,Dave,{},wobbly,2024-01-02T03:04:05Z,2024-01-02T03:04:05Z
5,BOB@example.com,Bob,{},enabled,2024-01-02T03:04:05Z,2024-01-02T03:04:05Z
`

func TestImportMailchimp(t *testing.T) {
	store := newMemSubscriberStore()
	store.put("dave@example.com", gazette.SubscriberUnsubscribed)
	store.put("erin@example.com", gazette.SubscriberConfirmed)
	var progress bytes.Buffer
	rep, err := importCSV(context.Background(), strings.NewReader(mailchimpCSV), store, importOptions{
		Confirm: true, Topics: []string{"science", "sport"}, Progress: &progress, Now: func() time.Time { return importNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	wantRep := importReport{
		Rows: 7, New: 2, Unchanged: 1, KeptSuppressed: 1, Duplicates: 1,
		Rejected: []rowIssue{
			{4, "email_invalid: this does not look like an e-mail address"},
			{5, "name_invalid: the name may not contain line breaks or control characters"},
		},
		Warnings: []rowIssue{{3, "duplicate of line 2 (addresses compared ignoring case), merged"}},
	}
	if diff := cmp.Diff(wantRep, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	ann := store.get("ann@example.com")
	if ann.Status != gazette.SubscriberConfirmed || ann.Name != "Ann Lee" || !cmp.Equal(ann.Topics, []string{"science"}) ||
		!ann.CreatedAt.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) || !ann.ConfirmedAt.Equal(time.Date(2024, 3, 1, 10, 5, 0, 0, time.UTC)) ||
		!ann.ExpiresAt.IsZero() || ann.History[0].Why != subscription.WhyImport {
		t.Errorf("ann = %+v", ann)
	}
	if c := store.get("carol@xn--bcher-kva.example"); c.Status != gazette.SubscriberConfirmed || !cmp.Equal(c.Topics, []string{"sport"}) {
		t.Errorf("carol (IDNA) = %+v", c)
	}
	if d := store.get("dave@example.com"); d.Status != gazette.SubscriberUnsubscribed || d.Version != 3 {
		t.Errorf("dave was unsubscribed and must stay so: %+v", d)
	}
	if e := store.get("erin@example.com"); e.Name != "Stored" || e.Version != 3 {
		t.Errorf("erin was already confirmed and must be untouched: %+v", e)
	}
	if !strings.Contains(progress.String(), "4/4") {
		t.Errorf("progress = %q", progress.String())
	}
}

func TestImportListmonkWithoutConfirm(t *testing.T) {
	store := newMemSubscriberStore()
	store.put("carol@example.com", gazette.SubscriberComplained)
	rep, err := importCSV(context.Background(), strings.NewReader(listmonkCSV), store, importOptions{Now: func() time.Time { return importNow }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rejected) != 1 || rep.Rejected[0].Line != 5 || !strings.Contains(rep.Rejected[0].Reason, `"wobbly"`) {
		t.Errorf("rejected = %+v", rep.Rejected)
	}
	want := map[string]gazette.SubscriberStatus{
		"ann@example.com":   gazette.SubscriberPending, // no --confirm: consent not asserted
		"bob@example.com":   gazette.SubscriberUnsubscribed,
		"carol@example.com": gazette.SubscriberComplained,
	}
	for email, st := range want {
		if got := store.get(email); got.Status != st {
			t.Errorf("%s: status %q, want %q", email, got.Status, st)
		}
	}
	if r := store.get("ann@example.com"); !r.ExpiresAt.IsZero() {
		t.Errorf("imported pending row expires at %v", r.ExpiresAt)
	}
}

func TestImportDefaultStatusAndDryRun(t *testing.T) {
	store := newMemSubscriberStore()
	csv := "email\nann@example.com\n"
	rep, err := importCSV(context.Background(), strings.NewReader(csv), store, importOptions{DefaultStatus: "cleaned", DryRun: true})
	if err != nil || rep.New != 1 || len(store.recs) != 0 {
		t.Fatalf("dry run: %+v, %v, %d records", rep, err, len(store.recs))
	}
	if _, err := importCSV(context.Background(), strings.NewReader(csv), store, importOptions{DefaultStatus: "cleaned"}); err != nil {
		t.Fatal(err)
	}
	if got := store.get("ann@example.com").Status; got != gazette.SubscriberBounced {
		t.Errorf("status = %q, want bounced", got)
	}
	// A later "subscribed" import does not lift the suppression.
	if _, err := importCSV(context.Background(), strings.NewReader(csv), store, importOptions{Confirm: true}); err != nil {
		t.Fatal(err)
	}
	if got := store.get("ann@example.com").Status; got != gazette.SubscriberBounced {
		t.Errorf("status after re-import = %q, want bounced", got)
	}
	if _, err := importCSV(context.Background(), strings.NewReader("name\nAnn\n"), store, importOptions{}); err == nil {
		t.Error("a file without an email column was accepted")
	}
}

func TestExportCSV(t *testing.T) {
	store := newMemSubscriberStore()
	store.put("bob@example.com", gazette.SubscriberConfirmed)
	store.put("ann@example.com", gazette.SubscriberUnsubscribed)
	r := store.recs[gazette.SubscriberID("bob@example.com")]
	r.Name, r.Topics = "=HYPERLINK(\"x\")", []string{"science", "sport"}
	store.recs[r.ID] = r
	if err := store.Forget(context.Background(), gazette.SubscriberID("gone@example.com"), importNow); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := exportCSV(context.Background(), store, &out); err != nil {
		t.Fatal(err)
	}
	want := `email,name,status,topics,created_at,confirmed_at,updated_at,reason
ann@example.com,Stored,unsubscribed,,,,2026-11-27T11:00:00Z,test
bob@example.com,"'=HYPERLINK(""x"")",confirmed,"science,sport",,,2026-11-27T11:00:00Z,test
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("export (-want +got):\n%s", diff)
	}
}

func TestSubscribersCommand(t *testing.T) {
	store := newMemSubscriberStore()
	old := newSubscriberStore
	newSubscriberStore = func(_ context.Context, table string) (subscriberStore, error) {
		if table != "subs" {
			t.Errorf("table = %q", table)
		}
		return store, nil
	}
	t.Cleanup(func() { newSubscriberStore = old })
	file := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(file, []byte(mailchimpCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), append([]string{"subscribers"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, _, stderr := run("--help")
	if code != 0 || !strings.Contains(stderr, "CONSENT IS YOUR RESPONSIBILITY") {
		t.Errorf("help: %d %s", code, stderr)
	}
	if code, _, _ := run("import", file); code != 2 {
		t.Errorf("import without a table: exit %d, want 2", code)
	}
	code, stdout, stderr := run("import", "--table", "subs", file, "--topics", "science")
	if code != 0 || !strings.Contains(stdout, "imported: 7 rows, 4 new") || !strings.Contains(stderr, "line 4: rejected: email_invalid") {
		t.Errorf("import: %d\n%s\n%s", code, stdout, stderr)
	}
	if got := store.get("ann@example.com").Status; got != gazette.SubscriberPending {
		t.Errorf("import without --confirm made ann %q", got)
	}
	code, stdout, _ = run("export", "--table=subs")
	if code != 0 || strings.Count(stdout, "\n") != 5 || !strings.Contains(stdout, "ann@example.com,Ann Lee,pending,science") {
		t.Errorf("export: %d\n%s", code, stdout)
	}
	code, stdout, _ = run("forget", "--table", "subs", "ANN@example.com")
	if code != 0 || !strings.Contains(stdout, gazette.SubscriberID("ann@example.com")) || strings.Contains(stdout, "@") {
		t.Errorf("forget: %d %s", code, stdout)
	}
	if r := store.get("ann@example.com"); r.Email != "" || r.Status != gazette.SubscriberUnsubscribed {
		t.Errorf("forgotten record %+v", r)
	}
	if code, _, _ := run("frobnicate"); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}

// BenchmarkImport100k imports a 100k-row CSV (with 1% invalid rows and 1%
// duplicates) into an in-memory store and reports rows per second.
func BenchmarkImport100k(b *testing.B) {
	const rows = 100_000
	var buf bytes.Buffer
	buf.WriteString("Email Address,First Name,Last Name,OPTIN_TIME,TAGS\n")
	for i := range rows {
		switch {
		case i%100 == 7:
			fmt.Fprintf(&buf, "broken-%d,Nobody,,,\n", i)
		case i%100 == 8:
			fmt.Fprintf(&buf, "Reader%d@Example.com,Dup,,,\n", i-2)
		default:
			fmt.Fprintf(&buf, "reader%d@example.com,Reader,%d,2024-03-01 10:00:00,\"science,sport\"\n", i, i)
		}
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		store := newMemSubscriberStore()
		rep, err := importCSV(context.Background(), bytes.NewReader(data), store, importOptions{
			Confirm: true, Topics: []string{"science", "sport"},
		})
		if err != nil || rep.Rows != rows || len(store.recs) != rows-2000 {
			b.Fatalf("import: %+v, %v, %d records", rep.Summary(false), err, len(store.recs))
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
