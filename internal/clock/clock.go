// Package clock is the clock steadylog's packages read — the system clock
// in a program — and the fake one their tests drive: time moves only when
// a test says so, and a test can wait until a goroutine is blocked on a
// timer, a ticker or a deadline instead of sleeping.
//
// It is one package for both halves because production code takes a
// [Clock] and tests hand it a [*Fake]: the interface and its fake change
// together.
package clock

import (
	"context"
	"time"
)

// Clock tells the time, makes timers and tickers, and derives contexts
// that end at a time on it. [Real] is the system clock; [Fake] is a clock
// a test moves.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker of period d; d must be positive.
	NewTicker(d time.Duration) Ticker
	// WithDeadlineCause is context.WithDeadlineCause on this clock: the
	// context ends, with context.DeadlineExceeded and cause (if non-nil),
	// when the clock reaches d, or when parent ends, or when cancel is
	// called.
	WithDeadlineCause(parent context.Context, d time.Time, cause error) (context.Context, context.CancelFunc)
}

// WithTimeout is context.WithTimeout on c.
func WithTimeout(c Clock, parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return c.WithDeadlineCause(parent, c.Now().Add(d), nil)
}

// WithTimeoutCause is context.WithTimeoutCause on c.
func WithTimeoutCause(c Clock, parent context.Context, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	return c.WithDeadlineCause(parent, c.Now().Add(d), cause)
}

// Until returns the time on c until t, as time.Until does.
func Until(c Clock, t time.Time) time.Duration { return t.Sub(c.Now()) }

// Since returns the time on c since t, as time.Since does.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Timer is the part of a *time.Timer the packages use.
type Timer interface {
	// C returns the channel the time is sent on when the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing, and reports whether it stopped
	// it (false if it had fired or been stopped already).
	Stop() bool
}

// Ticker is the part of a *time.Ticker the packages use.
type Ticker interface {
	// C returns the channel the ticks are delivered on.
	C() <-chan time.Time
	// Stop turns the ticker off. No ticks are delivered after it returns.
	Stop()
}

// Real returns the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker panics if d <= 0, as time.NewTicker does: the packages reject
// such a period before they make a ticker.
func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

func (realClock) WithDeadlineCause(parent context.Context, d time.Time, cause error) (context.Context, context.CancelFunc) {
	return context.WithDeadlineCause(parent, d, cause)
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

// Carrier is an option, of a package above this one, that carries a Clock
// instead of applying a setting: package telemetry runs a DropAlerter or
// an ErrorReporter on the Clock of an option that is a Carrier. It is how
// the tests of the packages that make those (the processor's) reach their
// clock without a public option: a type outside this module cannot name
// Clock, so it cannot implement Carrier.
type Carrier interface {
	CarriedClock() Clock
}
