package gazette

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that a handler can decide what to do with the
// work that failed: retry it later, or park it (DLQ, rejected/) with a reason.
type Kind int

// Error kinds.
const (
	// KindUnknown errors are treated like transient ones: retried, then parked
	// by the queue's redrive policy.
	KindUnknown Kind = iota
	// KindInvalid input will never succeed; park it with its reason.
	KindInvalid
	// KindNotFound means what the work refers to does not exist (any more).
	KindNotFound
	// KindThrottled means a rate limit said "later"; retry, never count as a failure.
	KindThrottled
	// KindPermanent failures will not go away by retrying.
	KindPermanent
	// KindConflict means someone else already did or is doing this work.
	KindConflict
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindThrottled:
		return "throttled"
	case KindPermanent:
		return "permanent"
	case KindConflict:
		return "conflict"
	}
	return "unknown"
}

// Error is an error with a Kind, a machine-readable Code and a message a
// person can read. Wrap it with fmt.Errorf("…: %w", err) for context.
type Error struct {
	Kind    Kind
	Code    string // short machine-readable rule, e.g. "empty", "too_large"
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Message != "" && e.Err != nil:
		return e.Message + ": " + e.Err.Error()
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind k with a code and a formatted message.
func Errorf(k Kind, code, format string, args ...any) error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns err classified as kind k, or nil if err is nil.
func Wrap(k Kind, code string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Code: code, Err: err}
}

// KindOf reports the kind of the first *Error in err's chain.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// CodeOf reports the code of the first *Error in err's chain, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Retryable reports whether work that failed with err may succeed later.
func Retryable(err error) bool {
	switch KindOf(err) {
	case KindInvalid, KindNotFound, KindPermanent, KindConflict:
		return false
	}
	return true
}
