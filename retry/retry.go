package retry

import (
	"errors"
	"time"
)

// Classifier marks an export error with [Permanent] or [After] and returns
// it; an error it does not recognise is returned unchanged. The result must
// wrap err (errors.Is(result, err) holds), and a nil err gives nil.
// otlperr.Classify is the classifier of the OTLP log exporters.
type Classifier func(err error) error

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the request itself is at fault (bad
// data, a 400-class response other than 429), so retrying it is pointless
// and the failure says nothing about the backend's health. The breaker's
// default classifier ignores permanent errors, and the processor drops the
// batch instead of retrying it. Permanent(nil) returns nil. The result
// wraps err, so errors.Is and errors.As still see it.
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

// afterError carries a delay requested by the server.
type afterError struct {
	err   error
	delay time.Duration
}

func (e *afterError) Error() string { return e.err.Error() }
func (e *afterError) Unwrap() error { return e.err }

// After returns err carrying the delay d the server asked for before the
// next attempt (an HTTP Retry-After header, a gRPC RetryInfo). A failure
// carrying a delay makes an open breaker wait at least that long, up to its
// Config.MaxOpenTimeout, and the processor's retry wait at least that long,
// up to its retry budget. After(nil, d) returns nil; a negative d is
// treated as zero. The result wraps err.
func After(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &afterError{err: err, delay: max(d, 0)}
}

// Delay returns the delay carried by err (the outermost one, if several
// were attached with [After]) and whether there was one.
func Delay(err error) (time.Duration, bool) {
	var a *afterError
	if errors.As(err, &a) {
		return a.delay, true
	}
	return 0, false
}
