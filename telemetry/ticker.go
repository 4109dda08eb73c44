package telemetry

import "time"

// Ticker delivers ticks on a channel, like a *time.Ticker. It lets tests
// drive a DropAlerter without waiting for real time to pass.
type Ticker interface {
	// C returns the channel the ticks are delivered on.
	C() <-chan time.Time
	// Stop turns the ticker off. No ticks are delivered after it returns.
	Stop()
}

// NewTicker returns a Ticker backed by time.NewTicker(d). d must be
// positive, as for time.NewTicker, which panics otherwise (NewDropAlerter
// rejects an interval ≤ 0, so the default ticker never sees one); any
// positive value works, math.MaxInt64 included: such a ticker never ticks
// in practice.
func NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }
