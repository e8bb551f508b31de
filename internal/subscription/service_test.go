package subscription

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gazette-news/gazette/internal/gazette"
	"github.com/gazette-news/gazette/internal/token"
)

func TestSubscribeCreatesPendingAndMails(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, "  Ann@Example.COM ", "Ann", "Science", "sport", "science")

	r := f.store.get(t, "ann@example.com")
	want := Record{
		Subscriber: gazette.Subscriber{
			ID: gazette.SubscriberID("ann@example.com"), Email: "ann@example.com", Name: "Ann",
			Topics: []string{"science", "sport"}, Status: gazette.SubscriberPending,
			CreatedAt: start, UpdatedAt: start, Reason: WhySignUp,
		},
		History:    []Transition{{At: start, To: gazette.SubscriberPending, Why: WhySignUp}},
		LastMailAt: start,
		ExpiresAt:  start.Add(DefaultPendingTTL),
		Version:    1,
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	m := f.mail.last(t)
	if m.To != "ann@example.com" || m.Name != "Ann" || !strings.HasPrefix(m.URL, base+"/confirm?token=") {
		t.Errorf("mail = %+v", m)
	}
	if id, err := f.signer.Verify(tokenOf(t, m.URL), token.Confirm, start); err != nil || id != r.ID {
		t.Errorf("confirm token names %q, %v", id, err)
	}
}

func TestSubscribeRateLimitsMail(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, "ann@example.com", "Ann")
	f.clock.Advance(9 * time.Minute)
	f.subscribe(t, "ANN@example.com", "Someone else")
	if n := len(f.mail.sent); n != 1 {
		t.Fatalf("mails after a repeat within the interval = %d, want 1", n)
	}
	if r := f.store.get(t, "ann@example.com"); r.Name != "Ann" {
		t.Errorf("rate-limited sign-up changed the name to %q", r.Name)
	}
	f.clock.Advance(time.Minute)
	f.subscribe(t, "ann@example.com", "Ann B.")
	if n := len(f.mail.sent); n != 2 {
		t.Fatalf("mails after the interval = %d, want 2", n)
	}
	r := f.store.get(t, "ann@example.com")
	if r.Name != "Ann B." || !r.ExpiresAt.Equal(f.clock.Now().Add(DefaultPendingTTL)) {
		t.Errorf("pending re-sign-up: name %q expires %v", r.Name, r.ExpiresAt)
	}
}

func TestSubscribeDoesNotRevealKnownAddresses(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, "known@example.com", "")
	// Every state answers alike: nil, whether or not a mail went out.
	for _, email := range []string{"known@example.com", "new@example.com"} {
		if err := f.svc.Subscribe(context.Background(), base, SignUp{Email: email}); err != nil {
			t.Errorf("Subscribe(%s) = %v, want nil", email, err)
		}
	}
}

func TestConfirmIsIdempotent(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, "ann@example.com", "Ann")
	tok := tokenOf(t, f.mail.last(t).URL)
	f.clock.Advance(time.Hour)
	p, err := f.svc.Confirm(context.Background(), tok)
	if err != nil || !p.Changed || p.Status != gazette.SubscriberConfirmed || p.Name != "Ann" {
		t.Fatalf("Confirm() = %+v, %v", p, err)
	}
	p, err = f.svc.Confirm(context.Background(), tok)
	if err != nil || p.Changed || p.Status != gazette.SubscriberConfirmed {
		t.Fatalf("second Confirm() = %+v, %v", p, err)
	}
	r := f.store.get(t, "ann@example.com")
	if !r.ConfirmedAt.Equal(start.Add(time.Hour)) || !r.ExpiresAt.IsZero() || len(r.History) != 2 || r.Version != 2 {
		t.Errorf("confirmed record: %+v", r)
	}
}

func TestConfirmedSignUpAgainIsNotDowngraded(t *testing.T) {
	f := newFixture(t)
	f.subscribe(t, "ann@example.com", "Ann", "science")
	if _, err := f.svc.Confirm(context.Background(), tokenOf(t, f.mail.last(t).URL)); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	f.subscribe(t, "ann@example.com", "Mallory says click evil.example", "sport")
	r := f.store.get(t, "ann@example.com")
	if r.Status != gazette.SubscriberConfirmed || r.Name != "Ann" || !cmp.Equal(r.Topics, []string{"science"}) || !r.ExpiresAt.IsZero() {
		t.Errorf("confirmed record after a new sign-up: %+v", r)
	}
	if m := f.mail.last(t); m.Name != "Ann" {
		t.Errorf("mail to a confirmed subscriber greets %q, want the stored name", m.Name)
	}
}

func TestUnsubscribe(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.subscribe(t, "ann@example.com", "Ann")
	confirmTok := tokenOf(t, f.mail.last(t).URL)
	if _, err := f.svc.Confirm(ctx, confirmTok); err != nil {
		t.Fatal(err)
	}
	tok := f.sign(t, "ann@example.com", token.Unsubscribe, token.UnsubscribeTTL)
	if err := f.svc.CheckUnsubscribe(tok); err != nil {
		t.Fatalf("CheckUnsubscribe: %v", err)
	}
	if r := f.store.get(t, "ann@example.com"); r.Status != gazette.SubscriberConfirmed {
		t.Fatal("CheckUnsubscribe changed the record")
	}
	p, err := f.svc.Unsubscribe(ctx, tok, true)
	if err != nil || !p.Changed || p.Status != gazette.SubscriberUnsubscribed {
		t.Fatalf("Unsubscribe() = %+v, %v", p, err)
	}
	p, err = f.svc.Unsubscribe(ctx, tok, true)
	if err != nil || p.Changed {
		t.Fatalf("second Unsubscribe() = %+v, %v", p, err)
	}
	r := f.store.get(t, "ann@example.com")
	last := r.History[len(r.History)-1]
	if last.From != gazette.SubscriberConfirmed || last.To != gazette.SubscriberUnsubscribed || last.Why != WhyOneClick {
		t.Errorf("last transition %+v", last)
	}

	// The old confirmation link does not undo the unsubscribe.
	if _, err := f.svc.Confirm(ctx, confirmTok); !errors.Is(err, ErrOptInRequired) {
		t.Errorf("Confirm after unsubscribe error = %v, want ErrOptInRequired", err)
	}

	// Unknown subscribers are "already unsubscribed".
	p, err = f.svc.Unsubscribe(ctx, f.sign(t, "gone@example.com", token.Unsubscribe, time.Hour), false)
	if err != nil || p.Status != gazette.SubscriberUnsubscribed {
		t.Errorf("Unsubscribe(unknown) = %+v, %v", p, err)
	}
}

func TestSuppressedOptInAnew(t *testing.T) {
	for _, st := range []gazette.SubscriberStatus{gazette.SubscriberUnsubscribed, gazette.SubscriberBounced, gazette.SubscriberComplained} {
		t.Run(string(st), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			id := gazette.SubscriberID("ann@example.com")
			r := Record{Subscriber: gazette.Subscriber{ID: id, Email: "ann@example.com", Name: "Ann"}}
			r.Move(st, "test", start)
			if err := f.store.Save(ctx, r, 0); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Hour)
			f.subscribe(t, "ann@example.com", "Ann")
			got := f.store.get(t, "ann@example.com")
			if got.Status != st || got.OptInAt.IsZero() || !got.ExpiresAt.IsZero() {
				t.Fatalf("after sign-up: status %s optIn %v expires %v, want still %s", got.Status, got.OptInAt, got.ExpiresAt, st)
			}
			p, err := f.svc.Confirm(ctx, tokenOf(t, f.mail.last(t).URL))
			if err != nil || p.Status != gazette.SubscriberConfirmed {
				t.Fatalf("Confirm() = %+v, %v", p, err)
			}
			got = f.store.get(t, "ann@example.com")
			if !got.OptInAt.IsZero() || got.History[len(got.History)-1].From != st {
				t.Errorf("confirmed record %+v", got)
			}
		})
	}
}

func TestUnsubscribeCancelsPendingOptIn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := gazette.SubscriberID("ann@example.com")
	r := Record{Subscriber: gazette.Subscriber{ID: id, Email: "ann@example.com"}}
	r.Move(gazette.SubscriberBounced, "hard bounce", start)
	if err := f.store.Save(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	f.subscribe(t, "ann@example.com", "")
	confirm := tokenOf(t, f.mail.last(t).URL)
	if _, err := f.svc.Unsubscribe(ctx, f.sign(t, "ann@example.com", token.Unsubscribe, time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if got := f.store.get(t, "ann@example.com"); got.Status != gazette.SubscriberBounced || !got.OptInAt.IsZero() {
		t.Errorf("record %+v", got)
	}
	if _, err := f.svc.Confirm(ctx, confirm); !errors.Is(err, ErrOptInRequired) {
		t.Errorf("Confirm after cancel = %v, want ErrOptInRequired", err)
	}
}

func TestConfirmExpiredSignUp(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Confirm(context.Background(), f.sign(t, "ttl@example.com", token.Confirm, time.Hour))
	if !errors.Is(err, ErrSignUpExpired) {
		t.Errorf("Confirm(no record) = %v, want ErrSignUpExpired", err)
	}
}

// TestTokens goes through the service: a link is good for one purpose,
// one subscriber and a limited time, and survives a key rotation.
func TestTokens(t *testing.T) {
	ctx := context.Background()
	old := newFixture(t, keyOld)
	old.subscribe(t, "ann@example.com", "")
	good := tokenOf(t, old.mail.last(t).URL)
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}

	tests := []struct {
		name     string
		keys     [][]byte
		tok      string
		after    time.Duration
		wantCode string
	}{
		{"valid", [][]byte{keyOld}, good, 0, ""},
		{"valid until expiry", [][]byte{keyOld}, good, token.ConfirmTTL, ""},
		{"expired", [][]byte{keyOld}, good, token.ConfirmTTL + time.Second, "token_expired"},
		{"tampered subscriber", [][]byte{keyOld}, tamper(0), 0, "token_invalid"},
		{"tampered purpose", [][]byte{keyOld}, tamper(16), 0, "token_invalid"},
		{"tampered expiry", [][]byte{keyOld}, tamper(24), 0, "token_invalid"},
		{"tampered mac", [][]byte{keyOld}, tamper(40), 0, "token_invalid"},
		{"truncated", [][]byte{keyOld}, good[:len(good)-4], 0, "token_invalid"},
		{"garbage", [][]byte{keyOld}, "<script>", 0, "token_invalid"},
		{"rotated: previous key still verifies", [][]byte{keyNew, keyOld}, good, 0, ""},
		{"previous key retired", [][]byte{keyNew}, good, 0, "token_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.keys...)
			f.store = old.store
			f.svc.store = old.store
			f.clock.Advance(tt.after)
			_, err := f.svc.Confirm(ctx, tt.tok)
			if got := gazette.CodeOf(err); got != tt.wantCode {
				t.Fatalf("Confirm() error = %v (code %q), want code %q", err, got, tt.wantCode)
			}
			if err != nil && gazette.KindOf(err) != gazette.KindInvalid {
				t.Errorf("kind = %v, want invalid", gazette.KindOf(err))
			}
		})
	}

	t.Run("wrong purpose", func(t *testing.T) {
		f := newFixture(t)
		f.subscribe(t, "ann@example.com", "")
		confirm := tokenOf(t, f.mail.last(t).URL)
		if _, err := f.svc.Unsubscribe(ctx, confirm, false); gazette.CodeOf(err) != "token_invalid" {
			t.Errorf("Unsubscribe(confirm token) = %v", err)
		}
		if _, err := f.svc.Preferences(ctx, confirm); gazette.CodeOf(err) != "token_invalid" {
			t.Errorf("Preferences(confirm token) = %v", err)
		}
		unsub := f.sign(t, "ann@example.com", token.Unsubscribe, time.Hour)
		if _, err := f.svc.Confirm(ctx, unsub); gazette.CodeOf(err) != "token_invalid" {
			t.Errorf("Confirm(unsubscribe token) = %v", err)
		}
	})
	t.Run("signs with the new key after rotation", func(t *testing.T) {
		f := newFixture(t, keyNew, keyOld)
		f.subscribe(t, "bob@example.com", "")
		s, _ := token.NewSigner(keyNew)
		if _, err := s.Verify(tokenOf(t, f.mail.last(t).URL), token.Confirm, start); err != nil {
			t.Errorf("link not signed with the new key: %v", err)
		}
	})
}

func TestPreferences(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.subscribe(t, "ann@example.com", "Ann", "science")
	if _, err := f.svc.Confirm(ctx, tokenOf(t, f.mail.last(t).URL)); err != nil {
		t.Fatal(err)
	}
	tok := f.sign(t, "ann@example.com", token.Preferences, token.PreferencesTTL)
	p, err := f.svc.Preferences(ctx, tok)
	if err != nil || p.Name != "Ann" || !cmp.Equal(p.Topics, []string{"science"}) || p.UnsubscribeToken == "" {
		t.Fatalf("Preferences() = %+v, %v", p, err)
	}
	if _, err := f.signer.Verify(p.UnsubscribeToken, token.Unsubscribe, start); err != nil {
		t.Errorf("unsubscribe token: %v", err)
	}

	name, topics := "Ann B.", []string{"sport", "Culture"}
	p, err = f.svc.UpdatePreferences(ctx, tok, Update{Name: &name, Topics: &topics})
	if err != nil || !p.Changed || p.Name != "Ann B." || !cmp.Equal(p.Topics, []string{"culture", "sport"}) {
		t.Fatalf("UpdatePreferences() = %+v, %v", p, err)
	}
	p, err = f.svc.UpdatePreferences(ctx, tok, Update{Name: &name})
	if err != nil || p.Changed || len(p.Topics) != 2 {
		t.Fatalf("UpdatePreferences(same name) = %+v, %v", p, err)
	}
	none := []string{}
	if p, err = f.svc.UpdatePreferences(ctx, tok, Update{Topics: &none}); err != nil || p.Topics != nil {
		t.Fatalf("UpdatePreferences(no topics) = %+v, %v", p, err)
	}
	if r := f.store.get(t, "ann@example.com"); r.Status != gazette.SubscriberConfirmed || len(r.History) != 2 {
		t.Errorf("preferences touched the status or history: %+v", r)
	}

	bad := "Ann\r\nBcc: victim@example.com"
	if _, err := f.svc.UpdatePreferences(ctx, tok, Update{Name: &bad}); gazette.CodeOf(err) != "name_invalid" {
		t.Errorf("header injection: %v", err)
	}
	unknown := []string{"gossip"}
	if _, err := f.svc.UpdatePreferences(ctx, tok, Update{Topics: &unknown}); gazette.CodeOf(err) != "topic_unknown" {
		t.Errorf("unknown topic: %v", err)
	}
	if _, err := f.svc.Preferences(ctx, f.sign(t, "nobody@example.com", token.Preferences, time.Hour)); !errors.Is(err, ErrNoSubscription) {
		t.Errorf("Preferences(unknown) = %v", err)
	}
}

func TestSubscribeMailFailureReleasesRateLimit(t *testing.T) {
	f := newFixture(t)
	f.mail.err = errBoom
	err := f.svc.Subscribe(context.Background(), base, SignUp{Email: "ann@example.com"})
	if err == nil || gazette.KindOf(err) != gazette.KindUnknown {
		t.Fatalf("Subscribe with a failing mailer = %v, want an unknown-kind error", err)
	}
	f.mail.err = nil
	f.clock.Advance(time.Second)
	f.subscribe(t, "ann@example.com", "")
	if len(f.mail.sent) != 1 {
		t.Errorf("retry after a failed mail sent %d mails, want 1", len(f.mail.sent))
	}
}

func TestStoreRacesAreRetried(t *testing.T) {
	f := newFixture(t)
	f.store.races = 2
	f.subscribe(t, "ann@example.com", "")
	if len(f.mail.sent) != 1 || f.store.get(t, "ann@example.com").Status != gazette.SubscriberPending {
		t.Fatal("sign-up lost to races")
	}
	f.store.races = 100
	_, err := f.svc.Confirm(context.Background(), tokenOf(t, f.mail.last(t).URL))
	if gazette.KindOf(err) != gazette.KindThrottled {
		t.Errorf("Confirm under endless races = %v, want throttled", err)
	}
	f.store.races = 0
	f.store.failErr = gazette.Errorf(gazette.KindThrottled, "dynamodb", "slow down")
	f.clock.Advance(time.Hour)
	if err := f.svc.Subscribe(context.Background(), base, SignUp{Email: "bob@example.com"}); gazette.KindOf(err) != gazette.KindThrottled {
		t.Errorf("Subscribe with a throttled store = %v", err)
	}
}

func TestLogsCarryNoAddresses(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.subscribe(t, "ann@example.com", "Ann")
	f.subscribe(t, "ann@example.com", "Ann") // rate limited
	if _, err := f.svc.Confirm(ctx, tokenOf(t, f.mail.last(t).URL)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Unsubscribe(ctx, f.sign(t, "ann@example.com", token.Unsubscribe, time.Hour), true); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	if strings.Contains(logs, "@") || strings.Contains(logs, "ann") {
		t.Errorf("logs mention the address:\n%s", logs)
	}
	for _, want := range []string{`"to":"pending"`, `"to":"confirmed"`, `"to":"unsubscribed"`, gazette.SubscriberID("ann@example.com"), "rate limited"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}
