// Package tick is the ticker and the clock that telemetry's DropAlerter and
// ErrorReporter run on. They are not part of telemetry's API: a program
// has no reason to replace them, and tests do, to tick by hand. Package
// telemetry's own tests reach them through its export_test.go; tests of
// other packages (the processor's) through Option.
package tick

import "time"

// Ticker delivers ticks on a channel, like a *time.Ticker.
type Ticker interface {
	// C returns the channel the ticks are delivered on.
	C() <-chan time.Time
	// Stop turns the ticker off. No ticks are delivered after it returns.
	Stop()
}

// New returns a Ticker backed by time.NewTicker(d). d must be positive,
// as for time.NewTicker, which panics otherwise (telemetry rejects an
// interval ≤ 0, so the default ticker never sees one); any positive value
// works, math.MaxInt64 included: such a ticker never ticks in practice.
func New(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// Clock is what a DropAlerter or an ErrorReporter reads time from:
// NewTicker makes the ticker of its goroutine, Now measures the time a
// summary covers. The zero Clock is unset.
type Clock struct {
	NewTicker func(time.Duration) Ticker
	Now       func() time.Time
}

// IsSet reports whether c was given a ticker function or a clock.
func (c Clock) IsSet() bool { return c.NewTicker != nil || c.Now != nil }

// Option returns an option of package telemetry that makes a DropAlerter
// or an ErrorReporter run on a Clock: a value that is both a
// telemetry.AlertOption and a telemetry.ErrorOption. It is typed any
// because this package is below telemetry; telemetry sets it when it is
// initialised, so it is non-nil in any program that imports telemetry.
var Option func(Clock) any
