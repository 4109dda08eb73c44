package telemetry

import (
	"time"

	"github.com/steadylog/steadylog/internal/tick"
)

// WithClock is withClock, for the tests outside the package: both an
// AlertOption and an ErrorOption.
func WithClock(newTicker func(time.Duration) tick.Ticker, now func() time.Time) AlertAndErrorOption {
	return withClock(newTicker, now)
}

// AlertAndErrorOption is an option of both kinds.
type AlertAndErrorOption interface {
	AlertOption
	ErrorOption
}

// IntervalOf returns the interval a DropAlerter or an ErrorReporter was
// configured with.
func IntervalOf(x interface{ intervalOf() time.Duration }) time.Duration { return x.intervalOf() }

func (l *lines) intervalOf() time.Duration { return l.interval }
