package telemetry

import (
	"time"

	"github.com/steadylog/steadylog/internal/clock"
)

// WithClock is withClock, for the tests outside the package: both an
// AlertOption and an ErrorOption.
func WithClock(c clock.Clock) AlertAndErrorOption { return withClock(c) }

// AlertAndErrorOption is an option of both kinds.
type AlertAndErrorOption interface {
	AlertOption
	ErrorOption
}

// IntervalOf returns the interval a DropAlerter or an ErrorReporter was
// configured with.
func IntervalOf(x interface{ intervalOf() time.Duration }) time.Duration { return x.intervalOf() }

func (l *lines) intervalOf() time.Duration { return l.interval }
