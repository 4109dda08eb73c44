package lifecycle_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/lifecycle"
)

var strategies = []lifecycle.Strategy{lifecycle.Immediate, lifecycle.Flush, lifecycle.Graceful}

func TestShutdownCallsComponentsInOrder(t *testing.T) {
	for _, s := range []lifecycle.Strategy{lifecycle.Flush, lifecycle.Graceful} {
		t.Run(s.String(), func(t *testing.T) {
			j := &journal{}
			a, b, c := newFake("a", j, fast, fast), newFake("b", j, fast, fast), newFake("c", j, fast, fast)
			require.NoError(t, lifecycle.Shutdown(ctxWithTimeout(t, 5*time.Second), s, a, b, c))
			assert.Equal(t, []string{"a.flush", "b.flush", "c.flush", "a.shutdown", "b.shutdown", "c.shutdown"}, j.list())
		})
	}
	t.Run("immediate", func(t *testing.T) {
		j := &journal{}
		a, b := newFake("a", j, fast, fast), newFake("b", j, fast, fast)
		require.NoError(t, lifecycle.Shutdown(context.Background(), lifecycle.Immediate, a, b))
		// No flush: Immediate exports nothing more.
		assert.ElementsMatch(t, []string{"a.shutdown", "b.shutdown"}, j.list())
	})
}

func TestShutdownNilComponent(t *testing.T) {
	for _, s := range strategies {
		t.Run(s.String(), func(t *testing.T) {
			j := &journal{}
			ok := newFake("ok", j, fast, fast)
			var typedNil *fakeComponent
			err := lifecycle.Shutdown(ctxWithTimeout(t, 5*time.Second), s, nil, ok, typedNil)
			require.ErrorIs(t, err, lifecycle.ErrNilComponent)
			var le *lifecycle.Error
			require.ErrorAs(t, err, &le)
			require.Len(t, le.Failures, 2)
			assert.Equal(t, "#0 <nil>", le.Failures[0].Name)
			assert.Equal(t, "#2 *lifecycle_test.fakeComponent", le.Failures[1].Name)
			// The valid component is still shut down.
			assert.Contains(t, j.list(), "ok.shutdown")
		})
	}
}

func TestShutdownNilContextRefused(t *testing.T) {
	j := &journal{}
	c := newFake("c", j, fast, fast)
	//lint:ignore SA1012 passing a nil context is the point of this test
	err := lifecycle.Shutdown(nil, lifecycle.Flush, c) //nolint:staticcheck
	require.ErrorIs(t, err, lifecycle.ErrNilContext)
	assert.Empty(t, j.list(), "nothing may be called with a nil context")

	//lint:ignore SA1012 passing a nil context is the point of this test
	r, err := lifecycle.ShutdownNamed(nil, lifecycle.Flush, lifecycle.Named("c", c)) //nolint:staticcheck
	require.ErrorIs(t, err, lifecycle.ErrNilContext)
	assert.Equal(t, err, r.Err)
}

func TestShutdownInvalidStrategyRefused(t *testing.T) {
	for _, s := range []lifecycle.Strategy{{}, lifecycle.GracefulWithin(0), lifecycle.GracefulWithin(-0.5),
		lifecycle.GracefulWithin(1.5), lifecycle.GracefulWithin(math.NaN())} {
		t.Run(s.String(), func(t *testing.T) {
			j := &journal{}
			err := lifecycle.Shutdown(context.Background(), s, newFake("c", j, fast, fast))
			require.ErrorIs(t, err, lifecycle.ErrInvalidStrategy)
			assert.Empty(t, j.list())
		})
	}
}

func TestImmediateCancelsAndExpectsCanceled(t *testing.T) {
	clk := lifecycle.UseFakeClock(t)
	c := newFake("c", nil, fast, honours)
	r, err := lifecycle.ShutdownNamed(fakeTimeout(t, clk, 10*time.Second), lifecycle.Immediate, lifecycle.Named("c", c))
	// Returning context.Canceled is what Immediate asks for: not a failure.
	require.NoError(t, err)
	assert.Zero(t, r.Duration, "returned without waiting for the clock")
	require.Len(t, r.Components, 1)
	assert.False(t, r.Components[0].Abandoned)
	assert.Equal(t, lifecycle.Immediate, r.Components[0].Strategy)
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.ErrorIs(t, c.shutCtx.Err(), context.Canceled)
	assert.ErrorIs(t, context.Cause(c.shutCtx), lifecycle.ErrImmediate)
}

// A component that ignores its context is abandoned, the components after it
// are still shut down, and Shutdown returns by the deadline plus the margin.
func TestHungShutdownIsAbandonedWithinDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	for _, s := range strategies {
		t.Run(s.String(), func(t *testing.T) {
			stuck := newFake("stuck", nil, fast, hung).releaseAtEnd(t)
			after := newFake("after", nil, fast, honours)
			clk := lifecycle.UseFakeClock(t)
			start := clk.Now()
			ctx := fakeTimeout(t, clk, deadline)
			res := goShutdown(ctx, s, lifecycle.Named("stuck", stuck), lifecycle.Named("after", after))
			if s == lifecycle.Immediate {
				// Both calls start at once; after's returns at once, and
				// the shutdown sees it once the margin has passed.
				lifecycle.AwaitCallsEnded(t, 1)
				clk.BlockUntil(2) // the deadline and the margin
				clk.Advance(lifecycle.AbandonMargin)
				o := await(t, res)
				assert.Equal(t, lifecycle.AbandonMargin, o.r.Duration, "abandoned after the margin, not before")
				requireHungAbandoned(t, o.r, o.err, s, after)
				return
			}
			budget := 0 // Graceful's drain budget: a deadline until the end
			if s == lifecycle.Graceful {
				budget = 1
			}
			// stuck's Shutdown gets half the time left; then a margin.
			clk.BlockUntil(2 + budget) // the deadline and stuck's share
			clk.Advance(deadline / 2)
			clk.BlockUntil(2 + budget) // the deadline and the margin
			clk.Advance(lifecycle.AbandonMargin)
			// after's Shutdown honours the rest of the deadline.
			require.Equal(t, "after.flush", <-after.entered)
			require.Equal(t, "after.shutdown", <-after.entered)
			clk.Set(start.Add(deadline))
			o := await(t, res)
			assert.Equal(t, deadline, o.r.Duration, "abandoned by the deadline, not before")
			requireHungAbandoned(t, o.r, o.err, s, nil)
		})
	}
}

// requireHungAbandoned asserts the outcome of a shutdown with strategy s
// of stuck, hung in Shutdown, then after, which honours its context; the
// test has read after's calls when after is nil.
func requireHungAbandoned(t *testing.T, r lifecycle.Report, err error, s lifecycle.Strategy, after *fakeComponent) {
	t.Helper()
	if s == lifecycle.Immediate {
		assert.ErrorIs(t, err, lifecycle.ErrImmediate)
	} else {
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.ErrorIs(t, err, lifecycle.ErrAbandoned)
	var ce *lifecycle.ComponentError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "stuck", ce.Name)
	assert.Equal(t, lifecycle.OpShutdown, ce.Op)
	assert.True(t, ce.Abandoned)

	require.Len(t, r.Components, 2)
	assert.True(t, r.Components[0].Abandoned)
	assert.Error(t, r.Components[0].Err)
	// "after" honours its (ended) context: it was called, returned in
	// time and was not abandoned.
	assert.False(t, r.Components[1].Abandoned)
	if after != nil {
		assert.Equal(t, "after.shutdown", lastEntered(t, after))
	}
}

func lastEntered(t *testing.T, f *fakeComponent) string {
	t.Helper()
	var last string
	for {
		select {
		case last = <-f.entered:
		default:
			require.NotEmpty(t, last, "%s was never called", f.name)
			return last
		}
	}
}

// Many hung components share one margin: the bound does not grow with their
// number.
func TestManyHungComponentsShareOneMargin(t *testing.T) {
	const deadline = 200 * time.Millisecond
	for _, s := range strategies {
		t.Run(s.String(), func(t *testing.T) {
			var comps []lifecycle.NamedComponent
			var fakes []*fakeComponent
			for range 6 {
				f := newFake("hung", nil, fast, hung).releaseAtEnd(t)
				fakes = append(fakes, f)
				comps = append(comps, lifecycle.Named("", f))
			}
			clk := lifecycle.UseFakeClock(t)
			res := goShutdown(fakeTimeout(t, clk, deadline), s, comps...)
			want := lifecycle.AbandonMargin // Immediate: all at once, one margin
			rest := fakes
			waiting := 2 // the deadline and the margin
			if s != lifecycle.Immediate {
				// The flushes return; the first Shutdown gets its share of
				// the time and hangs; the deadline passes.
				for _, f := range fakes {
					require.Equal(t, "hung.flush", <-f.entered)
				}
				require.Equal(t, "hung.shutdown", <-fakes[0].entered)
				first := 2 // the deadline and the first share
				if s == lifecycle.Graceful {
					first++ // the drain's budget
				}
				clk.BlockUntil(first)
				clk.Advance(deadline)
				want += deadline
				rest = fakes[1:]
				waiting = 1 // the margin, all else having fired
			}
			// The Shutdown calls not yet made start together, then share
			// one margin.
			for _, f := range rest {
				require.Equal(t, "hung.shutdown", <-f.entered, "every Shutdown must be called")
			}
			clk.BlockUntil(waiting)
			clk.Advance(lifecycle.AbandonMargin)
			o := await(t, res)
			assert.Equal(t, want, o.r.Duration, "one margin, whatever the number of hung components")
			var le *lifecycle.Error
			require.ErrorAs(t, o.err, &le)
			assert.Len(t, le.Failures, 6)
			for _, f := range le.Failures {
				assert.True(t, f.Abandoned, f.Name)
			}
		})
	}
}

// Graceful gives ForceFlush a share of the remaining time; a hung flush does
// not stop Shutdown from getting the rest, and running out of drain budget is
// not a failure.
func TestGracefulHungFlushLeavesTimeForShutdown(t *testing.T) {
	const deadline = 600 * time.Millisecond
	clk := lifecycle.UseFakeClock(t)
	a := newFake("a", nil, hung, fast).releaseAtEnd(t)
	b := newFake("b", nil, fast, fast)
	start := clk.Now()
	res := goShutdown(fakeTimeout(t, clk, deadline), lifecycle.GracefulWithin(0.5), lifecycle.Named("a", a), lifecycle.Named("b", b))
	// (Once a's flush has started: the shutdown abandons it just the same
	// when its goroutine has not run yet, but then a never saw its context.)
	require.Equal(t, "a.flush", <-a.entered)
	clk.BlockUntil(2) // the deadline and the drain's budget
	clk.Advance(deadline / 2)
	clk.BlockUntil(2) // the deadline and the margin
	clk.Advance(lifecycle.AbandonMargin)
	o := await(t, res)
	r, err := o.r, o.err
	require.NoError(t, err)
	assert.Equal(t, deadline/2+lifecycle.AbandonMargin, r.Duration,
		"the drain gives up at its budget (and the margin), Shutdown needs no more")

	a.mu.Lock()
	dl, ok := a.flushCtx.Deadline()
	a.mu.Unlock()
	require.True(t, ok)
	assert.Equal(t, start.Add(deadline/2), dl)

	require.Len(t, r.Components, 2)
	for _, c := range r.Components {
		assert.True(t, c.BudgetExpired, c.Name)
		assert.False(t, c.Abandoned, c.Name)
		assert.NoError(t, c.Err)
	}
	// b's flush was skipped (the budget was gone), its Shutdown was not.
	assert.Equal(t, "b.shutdown", lastEntered(t, b))
}

func TestGracefulBudgetIsShareOfRemainingTime(t *testing.T) {
	const deadline = 2 * time.Second
	clk := lifecycle.UseFakeClock(t)
	c := newFake("c", nil, fast, fast)
	start := clk.Now()
	ctx := fakeTimeout(t, clk, deadline)
	require.NoError(t, lifecycle.Shutdown(ctx, lifecycle.GracefulWithin(0.25), c))
	c.mu.Lock()
	defer c.mu.Unlock()
	fdl, ok := c.flushCtx.Deadline()
	require.True(t, ok)
	assert.Equal(t, start.Add(deadline/4), fdl)
	sdl, ok := c.shutCtx.Deadline()
	require.True(t, ok)
	ctxDl, _ := ctx.Deadline()
	assert.Equal(t, ctxDl, sdl, "Shutdown gets the rest of the caller's time")
}

// Flush has no budget: a flush that never returns is a failure, and the
// component's Shutdown still runs (with the ended context).
func TestFlushHungFlushFails(t *testing.T) {
	const deadline = 200 * time.Millisecond
	c := newFake("c", nil, hung, honours).releaseAtEnd(t)
	clk := lifecycle.UseFakeClock(t)
	res := goShutdown(fakeTimeout(t, clk, deadline), lifecycle.Flush, lifecycle.Named("c", c))
	require.Equal(t, "c.flush", <-c.entered)
	clk.BlockUntil(1) // the deadline: Flush has no budget
	clk.Advance(deadline)
	// Shutdown, with the ended context, returns at once; the hung flush
	// is abandoned after the margin.
	require.Equal(t, "c.shutdown", <-c.entered)
	lifecycle.AwaitCallsEnded(t, 1)
	clk.BlockUntil(1) // the margin
	clk.Advance(lifecycle.AbandonMargin)
	o := await(t, res)
	r, err := o.r, o.err
	assert.Equal(t, deadline+lifecycle.AbandonMargin, r.Duration)
	var le *lifecycle.Error
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Failures, 2)
	assert.Equal(t, lifecycle.OpForceFlush, le.Failures[0].Op)
	assert.True(t, le.Failures[0].Abandoned)
	assert.Equal(t, lifecycle.OpShutdown, le.Failures[1].Op)
	assert.False(t, le.Failures[1].Abandoned)
	assert.ErrorIs(t, le.Failures[1], context.DeadlineExceeded)
	assert.True(t, r.Components[0].Abandoned)
	assert.False(t, r.Components[0].BudgetExpired, "Flush has no budget")
}

func TestAlreadyEndedContextSkipsFlush(t *testing.T) {
	j := &journal{}
	c := newFake("c", j, fast, honours)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	lifecycle.UseFakeClock(t) // never advanced: Shutdown returns at once, waiting for no margin
	o := await(t, goShutdown(ctx, lifecycle.Flush, lifecycle.Named("c", c)))
	assert.Zero(t, o.r.Duration)
	err := o.err
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, lifecycle.ErrAbandoned)
	assert.Equal(t, []string{"c.shutdown"}, j.list())
}

func TestContextCauseIsReported(t *testing.T) {
	errStop := errors.New("operator said stop")
	c := newFake("c", nil, fast, hung).releaseAtEnd(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-c.entered
		<-c.entered // flush, then shutdown
		cancel(errStop)
	}()
	err := lifecycle.Shutdown(ctx, lifecycle.Flush, c)
	require.ErrorIs(t, err, lifecycle.ErrAbandoned)
	require.ErrorIs(t, err, errStop)
	require.ErrorIs(t, err, context.Canceled)
}

func TestFailingAndPanickingComponents(t *testing.T) {
	j := &journal{}
	bad := newFake("bad", j, fast, fails)
	boom := newFake("boom", j, panics, fast)
	good := newFake("good", j, fast, fast)
	r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, 5*time.Second), lifecycle.Flush,
		lifecycle.Named("bad", bad), lifecycle.Named("boom", boom), lifecycle.Named("good", good))
	require.ErrorIs(t, err, errBoom)
	require.ErrorIs(t, err, lifecycle.ErrPanicked)
	var le *lifecycle.Error
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Failures, 2)
	assert.Equal(t, "bad", le.Failures[1].Name)
	assert.Equal(t, lifecycle.OpShutdown, le.Failures[1].Op)
	assert.Equal(t, "boom", le.Failures[0].Name)
	assert.Equal(t, lifecycle.OpForceFlush, le.Failures[0].Op)
	assert.Contains(t, j.list(), "good.shutdown")
	assert.NoError(t, r.Components[2].Err)
	assert.Contains(t, err.Error(), "2 failures")
}

func TestRecordCountsDelta(t *testing.T) {
	c := &countingComponent{}
	c.exported.Store(100) // before the shutdown: not in the report
	c.dropped.Store(7)
	c.onShutdown = func(c *countingComponent) {
		c.exported.Add(5)
		c.dropped.Add(3)
	}
	r, err := lifecycle.ShutdownNamed(context.Background(), lifecycle.Flush, lifecycle.Named("logs", c))
	require.NoError(t, err)
	require.Len(t, r.Components, 1)
	got := r.Components[0]
	assert.True(t, got.HasCounts)
	assert.Equal(t, uint64(5), got.Exported)
	assert.Equal(t, uint64(3), got.Dropped)
	assert.Equal(t, uint64(5), r.Exported())
	assert.Equal(t, uint64(3), r.Dropped())
}

func TestCounted(t *testing.T) {
	counter := &countingComponent{}
	// The flush honours its context, so it stays open until the budget ends.
	provider := newFake("provider", nil, honours, fast)
	wrapped := lifecycle.Counted(provider, counter)
	_, isCounter := wrapped.(lifecycle.RecordCounter)
	require.True(t, isCounter)

	counter.exported.Store(1)
	const deadline = 300 * time.Millisecond
	clk := lifecycle.UseFakeClock(t)
	res := goShutdown(fakeTimeout(t, clk, deadline), lifecycle.GracefulWithin(0.5), lifecycle.Named("", wrapped))
	// The counts move while the provider drains.
	require.Equal(t, "provider.flush", <-provider.entered)
	counter.exported.Add(9)
	counter.dropped.Add(2)
	clk.BlockUntil(2) // the deadline and the drain's budget
	clk.Advance(deadline / 2)
	o := await(t, res)
	r, err := o.r, o.err
	require.NoError(t, err)
	assert.Equal(t, deadline/2, r.Duration, "the drain for its budget, Shutdown at once")
	c := r.Components[0]
	assert.Equal(t, "#0 *lifecycle_test.fakeComponent", c.Name, "the default name shows the wrapped type")
	assert.True(t, c.HasCounts)
	assert.Equal(t, uint64(9), c.Exported)
	assert.Equal(t, uint64(2), c.Dropped)

	assert.Nil(t, lifecycle.Counted(nil, counter))
	var typedNil *fakeComponent
	assert.Nil(t, lifecycle.Counted(typedNil, counter))
	assert.Same(t, provider, lifecycle.Counted(provider, nil))
}

func TestNoComponents(t *testing.T) {
	for _, s := range strategies {
		r, err := lifecycle.ShutdownNamed(context.Background(), s)
		require.NoError(t, err)
		assert.Empty(t, r.Components)
	}
}

func TestGroup(t *testing.T) {
	j := &journal{}
	a, b := newFake("a", j, fast, fast), newFake("b", j, fast, fails)
	g := lifecycle.Group(a, nil, b)
	_, counts := g.(lifecycle.RecordCounter)
	assert.False(t, counts, "no member counts, so the group does not claim to")

	err := lifecycle.Shutdown(context.Background(), lifecycle.Flush, g)
	require.ErrorIs(t, err, lifecycle.ErrNilComponent, "the nil member is reported")
	require.ErrorIs(t, err, errBoom)
	assert.Equal(t, []string{"a.flush", "b.flush", "a.shutdown", "b.shutdown"}, j.list(), "members in order, the nil one skipped")

	c1, c2 := &countingComponent{}, &countingComponent{}
	c1.onShutdown = func(c *countingComponent) { c.exported.Add(2) }
	c2.onShutdown = func(c *countingComponent) { c.dropped.Add(5) }
	r, err := lifecycle.ShutdownNamed(context.Background(), lifecycle.Immediate,
		lifecycle.Named("logs", lifecycle.Group(newFake("provider", nil, fast, fast), c1, c2)))
	require.NoError(t, err)
	assert.True(t, r.Components[0].HasCounts)
	assert.Equal(t, uint64(2), r.Components[0].Exported)
	assert.Equal(t, uint64(5), r.Components[0].Dropped)
}

// A provider and its processor report the same context error: the group
// reports it once.
func TestGroupReportsRepeatedErrorOnce(t *testing.T) {
	a, b := newFake("a", nil, fast, honours), newFake("b", nil, fast, honours)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := lifecycle.Group(a, b).Shutdown(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "context canceled", err.Error())
}
