package lifecycle

import (
	"testing"
	"time"

	"github.com/steadylog/steadylog/internal/fakeclock"
)

// UseFakeMarginClock makes the AbandonMargin timers those of a fake clock
// for the rest of t, and returns the clock: the test advances it by
// AbandonMargin, once the call it drives waits on the timer
// (Fake.BlockUntil), to end the wait without waiting.
func UseFakeMarginClock(t testing.TB) *fakeclock.Fake {
	t.Helper()
	f := fakeclock.New(time.Now())
	old := marginClock
	marginClock = f
	t.Cleanup(func() { marginClock = old })
	return f
}
