package token

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

var (
	keyA = bytes.Repeat([]byte{'a'}, 32)
	keyB = bytes.Repeat([]byte{'b'}, 32)
	now  = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	id   = gazette.SubscriberID("reader@example.com")
)

func mustSigner(t *testing.T, keys ...[]byte) *Signer {
	t.Helper()
	s, err := NewSigner(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	a := mustSigner(t, keyA)
	tok, err := a.Sign(id, Unsubscribe, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := append([]byte(nil), raw...)
	flipped[3] ^= 1 // another subscriber
	tampered := base64.RawURLEncoding.EncodeToString(flipped)

	tests := []struct {
		name    string
		signer  *Signer
		tok     string
		purpose Purpose
		at      time.Time
		wantErr error
	}{
		{"valid", a, tok, Unsubscribe, now, nil},
		{"valid until the second it expires", a, tok, Unsubscribe, now.Add(time.Hour), nil},
		{"expired", a, tok, Unsubscribe, now.Add(time.Hour + time.Second), ErrExpired},
		{"other purpose", a, tok, Confirm, now, ErrMalformed},
		{"tampered subscriber", a, tampered, Unsubscribe, now, ErrMalformed},
		{"other key", mustSigner(t, keyB), tok, Unsubscribe, now, ErrMalformed},
		{"rotated: previous key still verifies", mustSigner(t, keyB, keyA), tok, Unsubscribe, now, nil},
		{"truncated", a, tok[:len(tok)-2], Unsubscribe, now, ErrMalformed},
		{"not base64", a, "!!!", Unsubscribe, now, ErrMalformed},
		{"empty", a, "", Unsubscribe, now, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.signer.Verify(tt.tok, tt.purpose, tt.at)
			if err != tt.wantErr {
				t.Fatalf("Verify() error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != id {
				t.Errorf("Verify() = %q, want %q", got, id)
			}
		})
	}
}

func TestSignRotationSignsWithFirstKey(t *testing.T) {
	rotated := mustSigner(t, keyB, keyA)
	tok, err := rotated.Sign(id, Preferences, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustSigner(t, keyB).Verify(tok, Preferences, now); err != nil {
		t.Errorf("new key does not verify a token signed after rotation: %v", err)
	}
	if _, err := mustSigner(t, keyA).Verify(tok, Preferences, now); err == nil {
		t.Error("old key alone verifies a token signed with the new key")
	}
}

func TestNewSignerRejectsShortKeys(t *testing.T) {
	for _, keys := range [][][]byte{nil, {[]byte("short")}, {keyA, []byte("short")}} {
		if _, err := NewSigner(keys...); err == nil {
			t.Errorf("NewSigner(%d keys) accepted a missing or short key", len(keys))
		}
	}
}

func TestSignRejectsBadID(t *testing.T) {
	if _, err := mustSigner(t, keyA).Sign("not-hex", Confirm, now); err == nil {
		t.Error("Sign accepted a subscriber ID that is not hex")
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := NewSigner(keyA)
	tok, _ := s.Sign(id, Confirm, now)
	want, _ := base64.RawURLEncoding.DecodeString(tok)
	f.Add(tok)
	f.Add("")
	f.Add(tok[:len(tok)-1] + "A")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := s.Verify(in, Confirm, now)
		if err != nil {
			return
		}
		// Only the signed bytes may verify: any other accepted input would
		// be a forgery.
		raw, derr := base64.RawURLEncoding.DecodeString(in)
		if derr != nil || !bytes.Equal(raw, want) || got != id {
			t.Fatalf("Verify(%q) accepted a token that was never signed (subscriber %q)", in, got)
		}
	})
}
