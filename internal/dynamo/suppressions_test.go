package dynamo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/subscription"
)

// hoursOf returns the distinct hours of suppression log keys, in order,
// and fails the test unless every hour comes with all its shards.
func hoursOf(t *testing.T, keys []string) []string {
	t.Helper()
	shards := map[string]int{}
	var hours []string
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, suppressionPrefix)
		hour, shard, ok2 := strings.Cut(rest, "#")
		if !ok || !ok2 {
			t.Fatalf("key %q is not a suppression log key", k)
		}
		if _, err := strconv.Atoi(shard); err != nil {
			t.Fatalf("key %q: shard %q", k, shard)
		}
		if shards[hour] == 0 {
			hours = append(hours, hour)
		}
		shards[hour]++
	}
	for h, n := range shards {
		if n != suppressionShards {
			t.Errorf("hour %s has %d keys, want %d", h, n, suppressionShards)
		}
	}
	return hours
}

func TestSuppressionKeys(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		since, now time.Time
		want       []string // hours, when short enough to list
		wantHours  int
		wantFirst  string
	}{
		{
			name: "same hour", since: at("2026-11-27T12:05:00Z"), now: at("2026-11-27T12:59:59Z"),
			want: []string{"2026-11-27T12"},
		},
		{
			name: "since truncated to its hour", since: at("2026-11-27T10:59:00Z"), now: at("2026-11-27T12:00:00Z"),
			want: []string{"2026-11-27T10", "2026-11-27T11", "2026-11-27T12"},
		},
		{
			name: "across midnight", since: at("2026-12-31T22:30:00Z"), now: at("2027-01-01T01:10:00Z"),
			want: []string{"2026-12-31T22", "2026-12-31T23", "2027-01-01T00", "2027-01-01T01"},
		},
		{
			name: "other zones read as UTC", since: at("2026-11-27T13:30:00+02:00"), now: at("2026-11-27T12:10:00Z"),
			want: []string{"2026-11-27T11", "2026-11-27T12"},
		},
		{
			name: "exactly 96 hours", since: at("2026-11-23T13:00:00Z"), now: at("2026-11-27T12:30:00Z"),
			wantHours: 96, wantFirst: "2026-11-23T13",
		},
		{
			name: "capped at 96 hours", since: at("2026-11-01T00:00:00Z"), now: at("2026-11-27T12:30:00Z"),
			wantHours: 96, wantFirst: "2026-11-23T13",
		},
		{
			name: "zero since capped", since: time.Time{}, now: at("2026-11-27T12:30:00Z"),
			wantHours: 96, wantFirst: "2026-11-23T13",
		},
		{
			name: "since after now reads nothing", since: at("2026-11-27T14:00:00Z"), now: at("2026-11-27T12:30:00Z"),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hours := hoursOf(t, suppressionKeys(tt.since, tt.now))
			if tt.wantHours == 0 {
				if diff := cmp.Diff(tt.want, hours); diff != "" {
					t.Errorf("hours (-want +got):\n%s", diff)
				}
				return
			}
			if len(hours) != tt.wantHours || hours[0] != tt.wantFirst || hours[len(hours)-1] != "2026-11-27T12" {
				t.Errorf("got %d hours %s..%s, want %d from %s to 2026-11-27T12", len(hours), hours[0], hours[len(hours)-1], tt.wantHours, tt.wantFirst)
			}
		})
	}
}

// putLog stores the log items of hour h holding ids, each in its shard.
func putLog(f *fakeSubscribersAPI, h time.Time, ids ...string) {
	byShard := map[int][]string{}
	for _, id := range ids {
		byShard[suppressionShard(id)] = append(byShard[suppressionShard(id)], id)
	}
	for shard, ids := range byShard {
		key := suppressionKey(h, shard)
		f.items[key] = map[string]types.AttributeValue{
			"id":        &types.AttributeValueMemberS{Value: key},
			"ids":       &types.AttributeValueMemberSS{Value: ids},
			"expiresAt": &types.AttributeValueMemberN{Value: fmt.Sprint(h.Add(suppressionTTL).Unix())},
			"other":     &types.AttributeValueMemberS{Value: "not projected"},
		}
	}
}

func subHexID(i int) string { return fmt.Sprintf("%032x", i) }

func TestSubscribersSuppressedSince(t *testing.T) {
	now := subT0.Add(30 * time.Minute) // 12:30
	tests := []struct {
		name        string
		since       time.Time
		logs        map[time.Duration][]string // hour offset from now's hour → IDs
		unprocessed int
		want        map[string]bool
		wantCalls   int
	}{
		{
			name: "empty log", since: now.Add(-time.Hour),
			want: map[string]bool{}, wantCalls: 1,
		},
		{
			name: "union of hours and shards", since: now.Add(-2 * time.Hour),
			logs: map[time.Duration][]string{
				-2 * time.Hour: {subHexID(1), subHexID(2)},
				-time.Hour:     {subHexID(2), subHexID(3)},
				0:              {subHexID(4), subHexID(5), subHexID(6), subHexID(7), subHexID(8)},
			},
			want:      map[string]bool{subHexID(1): true, subHexID(2): true, subHexID(3): true, subHexID(4): true, subHexID(5): true, subHexID(6): true, subHexID(7): true, subHexID(8): true},
			wantCalls: 1,
		},
		{
			name: "hours before since and after now not read", since: now.Add(-time.Hour),
			logs: map[time.Duration][]string{
				-2 * time.Hour: {subHexID(1)},
				-time.Hour:     {subHexID(2)},
				time.Hour:      {subHexID(3)},
			},
			want: map[string]bool{subHexID(2): true}, wantCalls: 1,
		},
		{
			name: "more than 100 keys split into calls", since: now.Add(-12 * time.Hour), // 13 hours, 104 keys
			logs: map[time.Duration][]string{-12 * time.Hour: {subHexID(1)}, 0: {subHexID(2)}},
			want: map[string]bool{subHexID(1): true, subHexID(2): true}, wantCalls: 2,
		},
		{
			name: "96 hour cap", since: now.Add(-30 * 24 * time.Hour),
			logs: map[time.Duration][]string{
				-96 * time.Hour: {subHexID(1)},
				-95 * time.Hour: {subHexID(2)},
				0:               {subHexID(3)},
			},
			want: map[string]bool{subHexID(2): true, subHexID(3): true}, wantCalls: 8, // 768 keys
		},
		{
			name: "unprocessed keys retried", since: now.Add(-2 * time.Hour),
			logs: map[time.Duration][]string{
				-2 * time.Hour: {subHexID(1)},
				0:              {subHexID(2), subHexID(3), subHexID(4), subHexID(5), subHexID(6), subHexID(7), subHexID(8), subHexID(9)},
			},
			unprocessed: 3,
			want:        map[string]bool{subHexID(1): true, subHexID(2): true, subHexID(3): true, subHexID(4): true, subHexID(5): true, subHexID(6): true, subHexID(7): true, subHexID(8): true, subHexID(9): true},
			wantCalls:   4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestSubscribers(t)
			if err := s.Save(context.Background(), subConfirmed(1), 0); err != nil {
				t.Fatal(err)
			}
			for off, ids := range tt.logs {
				putLog(f, now.Truncate(time.Hour).Add(off), ids...)
			}
			f.unprocessed = tt.unprocessed
			got, err := s.SuppressedSince(context.Background(), tt.since, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SuppressedSince() (-want +got):\n%s", diff)
			}
			if f.calls["BatchGetItem"] != tt.wantCalls {
				t.Errorf("BatchGetItem calls = %d, want %d", f.calls["BatchGetItem"], tt.wantCalls)
			}
		})
	}

	t.Run("keys never processed end in throttled", func(t *testing.T) {
		s, f := newTestSubscribers(t)
		f.unprocessed = 1 << 30
		if _, err := s.SuppressedSince(context.Background(), now, now); gazette.KindOf(err) != gazette.KindThrottled {
			t.Errorf("error = %v, want throttled", err)
		}
	})
}

// subStored saves the new record r and returns it as stored.
func subStored(t *testing.T, s *Subscribers, r subscription.Record) subscription.Record {
	t.Helper()
	if err := s.Save(context.Background(), r, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSubscribersSuppressionLogWrites(t *testing.T) {
	at := subT0.Add(-3 * time.Hour)                // when the event happened
	logged := subT0.Add(2*time.Hour + time.Minute) // when the store wrote it: 14:01
	ctx := context.Background()
	tests := []struct {
		name string
		// write changes the store; it returns the IDs the log should hold.
		write func(t *testing.T, s *Subscribers) []string
	}{
		{"Save confirmed to unsubscribed", func(t *testing.T, s *Subscribers) []string {
			r := subStored(t, s, subConfirmed(1))
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyOneClick, at)
			if err := s.Save(ctx, r, r.Version); err != nil {
				t.Fatal(err)
			}
			return []string{r.ID}
		}},
		{"Save pending to unsubscribed not logged", func(t *testing.T, s *Subscribers) []string {
			r := subStored(t, s, subPending(subAnnID, "ann@example.com"))
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyUnsubscribe, at)
			if err := s.Save(ctx, r, r.Version); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"Save of new confirmed or pending not logged", func(t *testing.T, s *Subscribers) []string {
			subStored(t, s, subConfirmed(1))
			subStored(t, s, subPending(subAnnID, "ann@example.com"))
			return nil
		}},
		{"Save of an unsubscribed record without a new transition not logged", func(t *testing.T, s *Subscribers) []string {
			r := subStored(t, s, subConfirmed(1))
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyUnsubscribe, at)
			if err := s.Save(ctx, r, r.Version); err != nil {
				t.Fatal(err)
			}
			r, _ = s.Load(ctx, r.ID)
			r.OptInAt, r.UpdatedAt = at.Add(time.Hour), at.Add(time.Hour) // a new sign-up
			// An hour later, so that a second entry would show as an item
			// of another hour.
			s.now = func() time.Time { return logged.Add(time.Hour) }
			if err := s.Save(ctx, r, r.Version); err != nil {
				t.Fatal(err)
			}
			s.now = func() time.Time { return logged }
			return []string{r.ID} // from the first save only
		}},
		{"Suppress bounced and complained", func(t *testing.T, s *Subscribers) []string {
			a, b := subStored(t, s, subConfirmed(1)), subStored(t, s, subConfirmed(2))
			if err := s.Suppress(ctx, a.ID, gazette.SubscriberBounced, "hard bounce", at); err != nil {
				t.Fatal(err)
			}
			if err := s.Suppress(ctx, b.ID, gazette.SubscriberComplained, "complaint", at); err != nil {
				t.Fatal(err)
			}
			return []string{a.ID, b.ID}
		}},
		{"Suppress of unknown or already suppressed not logged", func(t *testing.T, s *Subscribers) []string {
			a := subStored(t, s, subConfirmed(1))
			if err := s.Suppress(ctx, a.ID, gazette.SubscriberBounced, "hard bounce", at); err != nil {
				t.Fatal(err)
			}
			if err := s.Suppress(ctx, a.ID, gazette.SubscriberComplained, "complaint", at); err != nil {
				t.Fatal(err)
			}
			if err := s.Suppress(ctx, gazette.SubscriberID("nobody@example.com"), gazette.SubscriberBounced, "hard bounce", at); err != nil {
				t.Fatal(err)
			}
			return []string{a.ID}
		}},
		{"Forget", func(t *testing.T, s *Subscribers) []string {
			a, b := subStored(t, s, subConfirmed(1)), subStored(t, s, subPending(subAnnID, "ann@example.com"))
			for _, id := range []string{a.ID, b.ID, gazette.SubscriberID("nobody@example.com")} {
				if err := s.Forget(ctx, id, at); err != nil {
					t.Fatal(err)
				}
			}
			return []string{a.ID}
		}},
		{"PutMany import", func(t *testing.T, s *Subscribers) []string {
			var rs []subscription.Record
			var want []string
			for i := range 60 {
				r := subStored(t, s, subConfirmed(i))
				if i%3 == 0 { // an existing confirmed subscriber imported as unsubscribed
					r.Move(gazette.SubscriberUnsubscribed, subscription.WhyImport, at)
					want = append(want, r.ID)
				}
				rs = append(rs, r)
			}
			fresh := subscription.Record{Subscriber: gazette.Subscriber{ID: subHexID(999)}}
			fresh.Move(gazette.SubscriberUnsubscribed, subscription.WhyImport, at) // new rows: never planned
			rs = append(rs, fresh)
			if err := s.PutMany(ctx, rs); err != nil {
				t.Fatal(err)
			}
			return want
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestSubscribers(t)
			s.now = func() time.Time { return logged }
			want := map[string]bool{}
			for _, id := range tt.write(t, s) {
				want[id] = true
			}
			// Logged under the hour of the write, not of the event.
			got, err := s.SuppressedSince(ctx, logged, logged)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
			for id, it := range f.items {
				if !isSuppressionItem(id) {
					continue
				}
				if !strings.HasPrefix(id, suppressionPrefix+"2026-11-27T14#") {
					t.Errorf("log item %s, want hour 2026-11-27T14", id)
				}
				wantExp := strconv.FormatInt(time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC).Unix(), 10)
				if exp := it["expiresAt"].(*types.AttributeValueMemberN).Value; exp != wantExp {
					t.Errorf("log item %s expiresAt %s, want %s (hour + 96 h)", id, exp, wantExp)
				}
				if _, ok := it["status"]; ok {
					t.Errorf("log item %s has a status: the byStatus index would hold it", id)
				}
			}
			if len(want) == 0 && f.calls["UpdateItem"] != 0 {
				t.Errorf("UpdateItem calls = %d, want none", f.calls["UpdateItem"])
			}
		})
	}
}

func TestSubscribersSuppressionLogFailure(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		write func(s *Subscribers, r subscription.Record) error
	}{
		{"Suppress", func(s *Subscribers, r subscription.Record) error {
			return s.Suppress(ctx, r.ID, gazette.SubscriberBounced, "hard bounce", subT0)
		}},
		{"Forget", func(s *Subscribers, r subscription.Record) error { return s.Forget(ctx, r.ID, subT0) }},
		{"Save", func(s *Subscribers, r subscription.Record) error {
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyUnsubscribe, subT0)
			return s.Save(ctx, r, r.Version)
		}},
		{"PutMany", func(s *Subscribers, r subscription.Record) error {
			r.Move(gazette.SubscriberUnsubscribed, subscription.WhyImport, subT0)
			return s.PutMany(ctx, []subscription.Record{r})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, f := newTestSubscribers(t)
			var buf bytes.Buffer
			s.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
			r := subStored(t, s, subConfirmed(1))
			f.updateErr = &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
			if err := tt.write(s, r); err != nil {
				t.Fatalf("write failed with the log: %v", err)
			}
			got, err := s.Load(ctx, r.ID)
			if err != nil || !subscription.Suppressed(got.Status) {
				t.Errorf("record after the write: %+v, %v", got, err)
			}
			if f.calls["UpdateItem"] != 1 {
				t.Errorf("UpdateItem calls = %d, want 1", f.calls["UpdateItem"])
			}
			line := buf.String()
			if !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, r.ID) || !strings.Contains(line, "slow down") {
				t.Errorf("warning = %s, want WARN with the subscriber ID and the error", line)
			}
			if strings.Contains(line, "@") {
				t.Errorf("warning holds an address: %s", line)
			}
		})
	}
}

func TestSubscribersEachSkipsSuppressionLog(t *testing.T) {
	ctx := context.Background()
	s, f := newTestSubscribers(t)
	f.scanPage = 3
	var ids, confirmed []string
	for i := range 5 {
		r := subStored(t, s, subConfirmed(i))
		ids = append(ids, r.ID)
		if i%2 == 1 {
			confirmed = append(confirmed, r.ID)
			continue
		}
		if err := s.Suppress(ctx, r.ID, gazette.SubscriberBounced, "hard bounce", subT0); err != nil {
			t.Fatal(err)
		}
	}
	// Hours of log items before and after the subscribers in key order.
	putLog(f, subT0.Add(-time.Hour), subHexID(1))
	putLog(f, subT0.Add(time.Hour), subHexID(2))
	var seen []string
	if err := s.Each(ctx, func(r subscription.Record) error { seen = append(seen, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	logItems := 0
	for id := range f.items {
		if isSuppressionItem(id) {
			logItems++
		}
	}
	if logItems < 3 {
		t.Fatalf("only %d log items in the table; the test needs some", logItems)
	}
	if diff := cmp.Diff(ids, seen, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Each saw (-want +got):\n%s", diff)
	}
	subs, _, err := s.ListConfirmed(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, sub := range subs {
		listed = append(listed, sub.ID)
	}
	if diff := cmp.Diff(confirmed, listed, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("ListConfirmed() (-want +got):\n%s", diff)
	}
}
