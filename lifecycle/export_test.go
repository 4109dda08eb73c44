package lifecycle

import (
	"testing"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
)

// UseFakeMarginClock makes the AbandonMargin timers those of a fake clock
// for the rest of t, and returns the clock: the test advances it by
// AbandonMargin, once the call it drives waits on the timer
// (Fake.BlockUntil), to end the wait without waiting.
func UseFakeMarginClock(t testing.TB) *clock.Fake {
	t.Helper()
	f := clock.NewFake(time.Now())
	old := marginClock
	marginClock = f
	t.Cleanup(func() { marginClock = old })
	return f
}
