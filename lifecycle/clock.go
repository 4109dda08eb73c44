package lifecycle

import "github.com/steadylog/steadylog/internal/clock"

// clk is the clock of everything the package times: when a shutdown and
// each call start and end, the Manager's timeout, the hooks' timeouts,
// the drain budget and each Shutdown's share (contexts whose deadlines
// are on it), and the AbandonMargin timers. It is the system clock; the
// package's tests set a clock.Fake (export_test.go) to drive time and
// assert exact durations.
var clk = clock.Real()
