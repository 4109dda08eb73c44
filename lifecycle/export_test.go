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

func (s *switchClock) now() clock.Clock { return *s.c.Load() }
func (s *switchClock) Now() time.Time   { return s.now().Now() }
func (s *switchClock) NewTimer(d time.Duration) clock.Timer {
	if run := testRun.Load(); run != nil {
		defer run.timers.add()
	}
	return s.now().NewTimer(d)
}
func (s *switchClock) NewTicker(d time.Duration) clock.Ticker { return s.now().NewTicker(d) }
func (s *switchClock) WithDeadlineCause(parent context.Context, d time.Time, cause error) (context.Context, context.CancelFunc) {
	return s.now().WithDeadlineCause(parent, d, cause)
}

// UseFakeClock makes the package time everything on a fake clock for the
// rest of t, and returns the clock: the test advances it, once the call
// it drives waits on a timer or a deadline (Fake.BlockUntil,
// AwaitTimersMade), to end the wait without waiting, and asserts exact
// durations. A test that uses it must not run in parallel with others.
func UseFakeClock(t testing.TB) *clock.Fake {
	t.Helper()
	f := clock.NewFake(time.Now())
	var c clock.Clock = f
	testClock.c.Store(&c)
	run := &fakeRun{calls: newCounter(), timers: newCounter()}
	testRun.Store(run)
	t.Cleanup(func() {
		testClock.c.Store(&realClock)
		testRun.CompareAndSwap(run, nil)
	})
	return f
}

// fakeRun is what a test on the fake clock counts: the calls of user code
// that end (a call is counted by the test it started in, also when it
// ends after that test: a hung call released at its end), and the timers
// made (AbandonMargin waits).
type fakeRun struct{ calls, timers *counter }

// testRun is the fakeRun of the running test; nil when it does not use
// the fake clock.
var testRun = func() *atomic.Pointer[fakeRun] {
	p := &atomic.Pointer[fakeRun]{}
	callStarted = func() func() {
		if run := p.Load(); run != nil {
			return run.calls.add
		}
		return nil
	}
	return p
}()

// counter is a count a test can wait for.
type counter struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed and replaced when n changes
}

func newCounter() *counter { return &counter{changed: make(chan struct{})} }

func (c *counter) add() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	close(c.changed)
	c.changed = make(chan struct{})
}

// await waits until the count reaches n, failing t after 10 s of real
// time (a hang).
func (c *counter) await(t testing.TB, n int, what string) {
	t.Helper()
	guard := time.NewTimer(10 * time.Second)
	defer guard.Stop()
	for {
		c.mu.Lock()
		got, changed := c.n, c.changed
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-guard.C:
			t.Fatalf("%d of %d %s", got, n, what)
		}
	}
}

func fakeRunOf(t testing.TB) *fakeRun {
	t.Helper()
	run := testRun.Load()
	if run == nil {
		t.Fatal("the test does not use UseFakeClock")
	}
	return run
}

// AwaitCallsEnded waits until n of the calls of user code (ForceFlush,
// Shutdown, hooks, RecordCounts, StopBlocking) started since UseFakeClock
// have ended, their result seen by the shutdown: a test calls it before it
// advances the clock past an AbandonMargin, so that calls that return at
// once are not abandoned for want of being scheduled.
func AwaitCallsEnded(t testing.TB, n int) {
	t.Helper()
	fakeRunOf(t).calls.await(t, n, "calls ended")
}

// TimersMade is how many timers have been made since UseFakeClock.
func TimersMade(t testing.TB) int {
	t.Helper()
	c := fakeRunOf(t).timers
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// AwaitTimersMade waits until n timers (AbandonMargin waits; deadlines are
// contexts) have been made since UseFakeClock: the way a test tells one
// margin from the next when both leave the same number of waiters on the
// clock.
func AwaitTimersMade(t testing.TB, n int) {
	t.Helper()
	fakeRunOf(t).timers.await(t, n, "timers made")
}
