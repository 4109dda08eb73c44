package telemetry

import (
	"context"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
)

// WithClock is withClock, for the tests outside the package: both an
// AlertOption and an ErrorOption.
func WithClock(c clock.Clock) AlertAndErrorOption { return withClock(c) }

// TickerClock is a clock.Clock whose tickers are made by NewTickerFunc
// and whose time is told by NowFunc: what the tests give a DropAlerter or
// an ErrorReporter to tick by hand (a ticker whose every tick waits for
// the goroutine to take it, which a clock.Fake's does not), or to make the
// ticker or the clock misbehave. Its timers and deadlines are the system
// clock's; the two types do not use them.
type TickerClock struct {
	NewTickerFunc func(time.Duration) clock.Ticker
	NowFunc       func() time.Time
}

func (c TickerClock) Now() time.Time                         { return c.NowFunc() }
func (c TickerClock) NewTicker(d time.Duration) clock.Ticker { return c.NewTickerFunc(d) }
func (TickerClock) NewTimer(d time.Duration) clock.Timer     { return clock.Real().NewTimer(d) }
func (TickerClock) WithDeadlineCause(parent context.Context, d time.Time, cause error) (context.Context, context.CancelFunc) {
	return clock.Real().WithDeadlineCause(parent, d, cause)
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
