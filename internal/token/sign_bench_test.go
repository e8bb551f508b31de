package token

import (
	"testing"
	"time"
)

// BenchmarkSign: send-batch signs two links per recipient.
func BenchmarkSign(b *testing.B) {
	s, _ := NewSigner([]byte("bench-key-0123456789abcdef0123456789abcdef"))
	exp := time.Now().Add(time.Hour)
	for b.Loop() {
		if _, err := s.Sign("0123456789abcdef0123456789abcdef", Unsubscribe, exp); err != nil {
			b.Fatal(err)
		}
	}
}
