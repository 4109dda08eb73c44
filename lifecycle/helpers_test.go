package lifecycle_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The tests drive the package's clock (UseFakeClock) and assert exact
// durations on it: Report.Duration is the time on that clock. The few
// that run on the system clock say why, and bound it with realTimeSlack.
const (
	// guardTimeout is how long, in real time, a test waits for a shutdown
	// it has driven to its end: only a hang reaches it.
	guardTimeout = 10 * time.Second
	// realTimeSlack is the scheduling delay allowed, on the system clock,
	// by the tests that cannot use the fake one: two shared cores, -race,
	// other test binaries running. It only has to tell a shutdown that
	// honours its deadline from one that does not.
	realTimeSlack = time.Second
	// roomyDeadline is the deadline of those tests' cases that must not
	// reach it: an Immediate shutdown, or one with time to export
	// everything (10 batches × 50 ms for the slow exporter).
	roomyDeadline = 10 * time.Second
	// immediateLimit is how soon, on the system clock, an Immediate
	// shutdown of those tests returns: far below roomyDeadline, so that a
	// shutdown that waited for its deadline fails.
	immediateLimit = 2 * time.Second
)

// requireWithinRealDeadline asserts that a shutdown run on the system
// clock with the given deadline returned no later than deadline +
// AbandonMargin + realTimeSlack.
func requireWithinRealDeadline(t *testing.T, took, deadline time.Duration) {
	t.Helper()
	limit := deadline + lifecycle.AbandonMargin + realTimeSlack
	if took > limit {
		t.Fatalf("shutdown took %v, limit %v (deadline %v + margin %v + slack %v)",
			took, limit, deadline, lifecycle.AbandonMargin, realTimeSlack)
	}
}

// outcome is what ShutdownNamed returned.
type outcome struct {
	r   lifecycle.Report
	err error
}

// goShutdown runs ShutdownNamed on its own goroutine, so that the test can
// drive the fake clock while it waits.
func goShutdown(ctx context.Context, s lifecycle.Strategy, comps ...lifecycle.NamedComponent) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		r, err := lifecycle.ShutdownNamed(ctx, s, comps...)
		out <- outcome{r, err}
	}()
	return out
}

// await returns what the shutdown returned once the test has moved the
// clock past everything it may wait for; guardTimeout only catches a hang.
func await[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(guardTimeout):
		t.Fatal("the shutdown did not return")
		panic("unreachable")
	}
}

// fakeTimeout is a context that ends d from now on the fake clock.
func fakeTimeout(t *testing.T, clk *clock.Fake, d time.Duration) context.Context {
	ctx, cancel := clock.WithTimeout(clk, context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// journal records the order of calls across components.
type journal struct {
	mu    sync.Mutex
	calls []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.calls = append(j.calls, s)
	j.mu.Unlock()
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.calls...)
}

// behaviour is what a fake component does in a call.
type behaviour int

const (
	fast    behaviour = iota // returns nil at once
	honours                  // blocks until its context ends, returns ctx.Err()
	hung                     // blocks until released, ignoring its context
	fails                    // returns errBoom
	panics                   // panics
)

var errBoom = errors.New("boom")

// fakeComponent is a Component whose ForceFlush and Shutdown behave as told.
type fakeComponent struct {
	name     string
	j        *journal
	flush    behaviour
	shutdown behaviour
	release  chan struct{} // closed to release hung calls
	entered  chan string   // receives "name.op" when a call starts (buffered)

	mu       sync.Mutex
	flushCtx context.Context
	shutCtx  context.Context
}

func newFake(name string, j *journal, flush, shutdown behaviour) *fakeComponent {
	return &fakeComponent{
		name: name, j: j, flush: flush, shutdown: shutdown,
		release: make(chan struct{}),
		entered: make(chan string, 8),
	}
}

func (f *fakeComponent) do(ctx context.Context, op string, b behaviour) error {
	if f.j != nil {
		f.j.add(f.name + "." + op)
	}
	f.entered <- f.name + "." + op
	switch b {
	case honours:
		<-ctx.Done()
		return ctx.Err()
	case hung:
		<-f.release
		return nil
	case fails:
		return errBoom
	case panics:
		panic("fake component panic")
	}
	return nil
}

func (f *fakeComponent) ForceFlush(ctx context.Context) error {
	f.mu.Lock()
	f.flushCtx = ctx
	f.mu.Unlock()
	return f.do(ctx, "flush", f.flush)
}

func (f *fakeComponent) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.shutCtx = ctx
	f.mu.Unlock()
	return f.do(ctx, "shutdown", f.shutdown)
}

// releaseAtEnd releases hung calls when the test ends, so that goleak sees
// no goroutine left behind.
func (f *fakeComponent) releaseAtEnd(t *testing.T) *fakeComponent {
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(f.release) }) })
	return f
}

// countingComponent is a fast component that also counts records.
type countingComponent struct {
	exported, dropped atomic.Uint64
	onShutdown        func(c *countingComponent)
}

func (c *countingComponent) ForceFlush(context.Context) error { return nil }
func (c *countingComponent) Shutdown(context.Context) error {
	if c.onShutdown != nil {
		c.onShutdown(c)
	}
	return nil
}
func (c *countingComponent) RecordCounts() (uint64, uint64) {
	return c.exported.Load(), c.dropped.Load()
}

func ctxWithTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
