// Package token signs and verifies the links in subscription mails:
// confirm, unsubscribe and preferences. A token is
//
//	base64url( subscriberID(16 bytes) | purpose(1) | expiry unix seconds(8) | HMAC-SHA256(32) )
//
// so it names one subscriber for one purpose until one moment, cannot be
// forged or pointed at someone else without the key, and says nothing a
// reader could enumerate: the subscriber ID is itself a hash of the address.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/gazette-news/gazette/internal/gazette"
)

// Purpose is what a token may be used for. A token for one purpose never
// verifies for another, so an unsubscribe link cannot confirm an address.
type Purpose byte

// Purposes.
const (
	Confirm     Purpose = 'c'
	Unsubscribe Purpose = 'u'
	Preferences Purpose = 'p'
)

// MinKeyLen is the shortest key accepted: 256 bits, HMAC-SHA256's block-safe minimum.
const MinKeyLen = 32

const (
	idLen      = 16
	macLen     = sha256.Size
	payloadLen = idLen + 1 + 8
	tokenLen   = payloadLen + macLen
)

// Errors Verify returns; both are of kind gazette.KindInvalid.
var (
	ErrMalformed = gazette.Errorf(gazette.KindInvalid, "token_invalid", "the link is not valid")
	ErrExpired   = gazette.Errorf(gazette.KindInvalid, "token_expired", "the link has expired")
)

// Signer signs with its first key and verifies with any of its keys, so a key
// can be rotated without breaking links already in inboxes: put the new key
// first and keep the previous one until its links have expired.
type Signer struct {
	// macs holds, per key in NewSigner's order (macs[0] signs), HMAC
	// states already keyed: Reset returns one to its keyed state without
	// hashing the key again, which halves the work of a MAC over a
	// 25-byte payload. send-batch signs two links per recipient.
	macs []*sync.Pool
}

// NewSigner returns a Signer; keys[0] signs, all keys verify.
func NewSigner(keys ...[]byte) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("token: no key")
	}
	for i, k := range keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("token: key %d is %d bytes, want at least %d", i, len(k), MinKeyLen)
		}
	}
	s := &Signer{}
	for _, k := range keys {
		s.macs = append(s.macs, &sync.Pool{New: func() any { return hmac.New(sha256.New, k) }})
	}
	return s, nil
}

// Sign returns a token for subscriberID (a gazette.SubscriberID) and purpose,
// valid until expires.
func (s *Signer) Sign(subscriberID string, p Purpose, expires time.Time) (string, error) {
	var buf [tokenLen]byte // on the stack: one allocation, the string
	if len(subscriberID) != 2*idLen {
		return "", fmt.Errorf("token: subscriber ID %q is not %d hex bytes", subscriberID, idLen)
	}
	if _, err := hex.Decode(buf[:idLen], []byte(subscriberID)); err != nil {
		return "", fmt.Errorf("token: subscriber ID %q is not %d hex bytes", subscriberID, idLen)
	}
	buf[idLen] = byte(p)
	binary.BigEndian.PutUint64(buf[idLen+1:], uint64(expires.Unix()))
	s.mac(0, buf[:payloadLen], buf[:payloadLen])
	return base64.RawURLEncoding.EncodeToString(buf[:]), nil
}

// Verify checks tok for purpose p at time now and returns the subscriber ID
// it names. The MAC is checked, in constant time, before anything in the
// payload is believed.
func (s *Signer) Verify(tok string, p Purpose, now time.Time) (string, error) {
	buf, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(buf) != tokenLen {
		return "", ErrMalformed
	}
	payload, sum := buf[:payloadLen], buf[payloadLen:]
	ok := false
	var own [macLen]byte
	for i := range s.macs {
		// Check every key: the loop's duration does not say which one matched.
		if hmac.Equal(sum, s.mac(i, payload, own[:0])) {
			ok = true
		}
	}
	if !ok || Purpose(payload[idLen]) != p {
		return "", ErrMalformed
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload[idLen+1:])), 0)
	if now.After(exp) {
		return "", ErrExpired
	}
	return hex.EncodeToString(payload[:idLen]), nil
}

// mac appends the HMAC-SHA256 of payload under key i to dst.
func (s *Signer) mac(i int, payload, dst []byte) []byte {
	h := s.macs[i].Get().(hash.Hash)
	h.Reset()
	h.Write(payload)
	dst = h.Sum(dst)
	s.macs[i].Put(h)
	return dst
}
