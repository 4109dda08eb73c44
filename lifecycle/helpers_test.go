package lifecycle_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Tolerances for the wall-clock assertions. The machine has two shared cores
// and the tests run under -race, so scheduling can add tens of milliseconds;
// the tolerances stay well below the durations they distinguish.
const (
	immediateLimit = 100 * time.Millisecond // Immediate must return within this
	schedTolerance = 150 * time.Millisecond // added to deadline + AbandonMargin
)

// requireWithinDeadline asserts that a shutdown with the given deadline
// returned no later than deadline + AbandonMargin + scheduling tolerance.
func requireWithinDeadline(t *testing.T, took, deadline time.Duration) {
	t.Helper()
	limit := deadline + lifecycle.AbandonMargin + schedTolerance
	if took > limit {
		t.Fatalf("shutdown took %v, limit %v (deadline %v + margin %v + tolerance %v)",
			took, limit, deadline, lifecycle.AbandonMargin, schedTolerance)
	}
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
