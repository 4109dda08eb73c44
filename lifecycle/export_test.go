package lifecycle

import (
	"context"
	"sync"
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
	calls := &endedCalls{changed: make(chan struct{})}
	testCalls.Store(calls)
	t.Cleanup(func() {
		testClock.c.Store(&realClock)
		testCalls.CompareAndSwap(calls, nil)
	})
	return f
}

// testCalls counts the calls of user code that end, from those started
// since the running test's UseFakeClock; nil when it does not use one.
var testCalls = func() *atomic.Pointer[endedCalls] {
	p := &atomic.Pointer[endedCalls]{}
	callStarted = func() func() {
		if calls := p.Load(); calls != nil {
			return calls.end
		}
		return nil
	}
	return p
}()

// endedCalls counts calls as they end. A call is counted by the test it
// started in, also when it ends after that test (a hung call released at
// its end).
type endedCalls struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed and replaced when n changes
}

func (e *endedCalls) end() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	close(e.changed)
	e.changed = make(chan struct{})
}

// AwaitCallsEnded waits until n of the calls of user code (ForceFlush,
// Shutdown, hooks, RecordCounts, StopBlocking) started since UseFakeClock
// have ended, their result seen by the shutdown: a test calls it before it
// advances the clock past an AbandonMargin, so that calls that return at
// once are not abandoned for want of being scheduled. It fails t if they
// have not ended within 10 s of real time (a hang).
func AwaitCallsEnded(t testing.TB, n int) {
	t.Helper()
	calls := testCalls.Load()
	if calls == nil {
		t.Fatal("AwaitCallsEnded needs UseFakeClock")
	}
	guard := time.NewTimer(10 * time.Second)
	defer guard.Stop()
	for {
		calls.mu.Lock()
		got, changed := calls.n, calls.changed
		calls.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-guard.C:
			t.Fatalf("%d of %d calls ended", got, n)
		}
	}
}
