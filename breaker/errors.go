package breaker

import (
	"errors"
	"time"
)

// ErrOpen is the sentinel of every refusal: errors.Is(err, ErrOpen) reports
// whether err comes from a breaker that refused a call. The error actually
// returned is an [*OpenError], which also tells when to try again.
var ErrOpen = errors.New("breaker: circuit open")

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
		return "breaker: circuit half-open, all probe calls in flight; retry at " + e.RetryAt.Format(time.RFC3339Nano)
	}
	return "breaker: circuit open; retry at " + e.RetryAt.Format(time.RFC3339Nano)
}

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the request itself is at fault (bad
// data, a 400-class response other than 429), so retrying it is pointless
// and the failure says nothing about the backend's health. The default
// classifier ignores permanent errors. Permanent(nil) returns nil. The
// result wraps err, so errors.Is and errors.As still see it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	if IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by
// [Permanent].
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError carries a delay requested by the server.
type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// WithRetryAfter returns err carrying the delay d the server asked for
// (an HTTP Retry-After header, a gRPC RetryInfo). A failure carrying a delay
// makes an Open breaker wait at least that long, up to
// [Config.MaxOpenTimeout]. WithRetryAfter(nil, d) returns nil; a negative d
// is treated as zero. The result wraps err.
func WithRetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, delay: max(d, 0)}
}

// RetryAfter returns the delay carried by err (the outermost one, if several
// were attached) and whether there was one.
func RetryAfter(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.delay, true
	}
	return 0, false
}
