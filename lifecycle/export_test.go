package lifecycle

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
)

// testClock is clk in the tests: the system clock, or the fake clock of
// the test running (UseFakeClock). The tests switch what it delegates to
// rather than clk itself, because a call a test abandoned may still read
// the clock after that test has ended.
var testClock = func() *switchClock {
	s := &switchClock{}
	s.c.Store(&realClock)
	clk = s
	return s
}()

var realClock = clock.Real()

type switchClock struct{ c atomic.Pointer[clock.Clock] }

func (s *switchClock) now() clock.Clock                       { return *s.c.Load() }
func (s *switchClock) Now() time.Time                         { return s.now().Now() }
func (s *switchClock) NewTimer(d time.Duration) clock.Timer   { return s.now().NewTimer(d) }
func (s *switchClock) NewTicker(d time.Duration) clock.Ticker { return s.now().NewTicker(d) }
func (s *switchClock) WithDeadlineCause(parent context.Context, d time.Time, cause error) (context.Context, context.CancelFunc) {
	return s.now().WithDeadlineCause(parent, d, cause)
}

// UseFakeClock makes the package time everything on a fake clock for the
// rest of t, and returns the clock: the test advances it, once the call
// it drives waits on a timer or a deadline (Fake.BlockUntil), to end the
// wait without waiting, and asserts exact durations. A test that uses it
// must not run in parallel with others.
func UseFakeClock(t testing.TB) *clock.Fake {
	t.Helper()
	f := clock.NewFake(time.Now())
	var c clock.Clock = f
	testClock.c.Store(&c)
	t.Cleanup(func() { testClock.c.Store(&realClock) })
	return f
}
