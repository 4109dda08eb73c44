package lifecycle

import (
	"testing"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
)

// UseFakeClock makes the package time everything on a fake clock for the
// rest of t, and returns the clock: the test advances it, once the call
// it drives waits on a timer or a deadline (Fake.BlockUntil), to end the
// wait without waiting, and asserts exact durations.
func UseFakeClock(t testing.TB) *clock.Fake {
	t.Helper()
	f := clock.NewFake(time.Now())
	old := clk
	clk = f
	t.Cleanup(func() { clk = old })
	return f
}
