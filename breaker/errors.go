package breaker

import (
	"errors"
	"time"
)

// ErrOpen is the sentinel of every refusal: errors.Is(err, ErrOpen) reports
// whether err comes from a breaker that refused a call. The error actually
// returned is an [*OpenError], which also tells when to try again.
var ErrOpen = errors.New("steadylog/breaker: circuit open")

// OpenError is returned by [Breaker.Allow] and [Breaker.Execute] when the
// breaker refuses a call; errors.Is(err, ErrOpen) is true.
type OpenError struct {
	// State is the state that refused the call: Open, or HalfOpen when all
	// probe calls are already taken.
	State State
	// RetryAt is the earliest time a call may be admitted. For an Open
	// breaker it is the end of the wait; for a HalfOpen breaker, whose
	// probes have not finished yet, it is an estimate (see [Breaker.Allow]).
	RetryAt time.Time
}

// Error describes the refusal.
func (e *OpenError) Error() string {
	if e.State == HalfOpen {
		return "steadylog/breaker: circuit half-open, all probe calls in flight; retry at " + e.RetryAt.Format(time.RFC3339Nano)
	}
	return "steadylog/breaker: circuit open; retry at " + e.RetryAt.Format(time.RFC3339Nano)
}

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }
