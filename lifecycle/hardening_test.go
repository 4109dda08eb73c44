package lifecycle_test

import (
	"context"
	"errors"
	"math"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadylog/steadylog/lifecycle"
)

// The first four tests are the four ways the overall context could end while
// a ForceFlush was running and a later component was still waiting for its
// turn: a Manager's second signal, a cancelled context, a deadline shorter
// than the flush's budget plus AbandonMargin, and GracefulWithin(1). Each
// used to panic (nil context in the skipped ForceFlush of the waiting
// component). Logs then metrics, as the README orders them.

// shutCtxOf returns the context f's Shutdown was called with, failing the
// test if it was never called.
func shutCtxOf(t *testing.T, f *fakeComponent) context.Context {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotNil(t, f.shutCtx, "%s: Shutdown was never called", f.name)
	return f.shutCtx
}

func flushCtxOf(f *fakeComponent) context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushCtx
}

// requireShutWithEndedContext asserts that every component's Shutdown was
// called, with a context that had ended (for cause, when not nil).
func requireShutWithEndedContext(t *testing.T, cause error, fs ...*fakeComponent) {
	t.Helper()
	for _, f := range fs {
		ctx := shutCtxOf(t, f)
		require.Error(t, ctx.Err(), "%s: Shutdown's context must have ended", f.name)
		if cause != nil {
			assert.ErrorIs(t, context.Cause(ctx), cause, f.name)
		}
	}
}

func TestHardeningGracefulSecondSignalMidFlush(t *testing.T) {
	lifecycle.UseFakeClock(t) // never advanced: the forced shutdown waits for no timer
	m := newManager(t, lifecycle.WithSignals(syscall.SIGUSR1), lifecycle.WithTimeout(time.Minute))
	logs := newFake("logs", nil, honours, fast)
	metrics := newFake("metrics", nil, honours, fast)
	require.NoError(t, m.Register("logs", logs))
	require.NoError(t, m.Register("metrics", metrics))
	require.NoError(t, m.Listen())

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	require.Equal(t, "logs.flush", <-logs.entered) // metrics waits for its turn
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	await(t, m.Done())
	r := m.Wait()
	t.Logf("second signal mid-flush:\n%s", r)
	assert.Zero(t, r.Duration, "returned without waiting for the clock")

	assert.True(t, r.Forced)
	assert.Equal(t, lifecycle.Graceful, r.Strategy)
	// The forced stop is what was asked for: not a failure.
	require.NoError(t, r.Err)
	require.Len(t, r.Components, 2)
	for _, c := range r.Components {
		assert.Equal(t, lifecycle.Immediate, c.Strategy, c.Name)
		assert.False(t, c.BudgetExpired, "%s: the drain budget did not end, the signal did", c.Name)
		assert.False(t, c.Abandoned, c.Name)
		assert.NoError(t, c.Err, c.Name)
	}
	requireShutWithEndedContext(t, lifecycle.ErrForced, logs, metrics)
	assert.Nil(t, flushCtxOf(metrics), "metrics' flush is skipped once the shutdown is forced")
}

func TestHardeningGracefulCancelledMidFlush(t *testing.T) {
	lifecycle.UseFakeClock(t) // never advanced: the cancelled shutdown waits for no timer
	errStop := errors.New("operator said stop")
	logs := newFake("logs", nil, honours, fast)
	metrics := newFake("metrics", nil, honours, fast)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		<-logs.entered // logs.flush: metrics waits for its turn
		cancel(errStop)
	}()
	r, err := lifecycle.ShutdownNamed(ctx, lifecycle.Graceful, lifecycle.Named("logs", logs), lifecycle.Named("metrics", metrics))
	t.Logf("cancelled mid-flush:\n%s", r)
	assert.Zero(t, r.Duration, "returned without waiting for the clock")

	// Without a deadline Graceful is Flush: the interrupted drain is the one
	// failure, with the caller's cause; metrics' flush is skipped, not failed.
	var le *lifecycle.Error
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Failures, 1)
	assert.Equal(t, "logs", le.Failures[0].Name)
	assert.Equal(t, lifecycle.OpForceFlush, le.Failures[0].Op)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, errStop)
	assert.NotErrorIs(t, err, lifecycle.ErrAbandoned)
	require.Len(t, r.Components, 2)
	for _, c := range r.Components {
		assert.False(t, c.BudgetExpired, c.Name)
		assert.False(t, c.Abandoned, c.Name)
		assert.Equal(t, lifecycle.Graceful, c.Strategy, c.Name)
	}
	assert.NoError(t, r.Components[1].Err)
	requireShutWithEndedContext(t, errStop, logs, metrics)
	assert.Nil(t, flushCtxOf(metrics))
}

// With Graceful and a 100 ms deadline the drain budget is 80 ms; a flush that
// takes longer than its budget to return (an export request in flight) is
// still running when the deadline passes, 20 ms later, while metrics waits.
func TestHardeningGracefulDeadlineMidFlush(t *testing.T) {
	const (
		deadline = 100 * time.Millisecond
		budget   = 80 * time.Millisecond
	)
	for _, late := range []bool{true, false} {
		name := "hung flush" // never returns in time: left running
		if late {
			name = "late flush" // returns once the deadline has passed
		}
		t.Run(name, func(t *testing.T) {
			var logs *fakeComponent
			var logsComp lifecycle.Component
			metrics := newFake("metrics", nil, honours, fast)
			if late {
				logs = newFake("logs", nil, honours, fast)
				l := &lateFlush{fakeComponent: logs, release: make(chan struct{})}
				go func() {
					// metrics' Shutdown begins only once the deadline has passed.
					for s := range metrics.entered {
						if s == "metrics.shutdown" {
							close(l.release)
							return
						}
					}
				}()
				logsComp = l
			} else {
				logs = newFake("logs", nil, hung, fast).releaseAtEnd(t)
				logsComp = logs
			}
			clk := lifecycle.UseFakeClock(t)
			res := goShutdown(fakeTimeout(t, clk, deadline), lifecycle.Graceful,
				lifecycle.Named("logs", logsComp), lifecycle.Named("metrics", metrics))
			require.Equal(t, "logs.flush", <-logs.entered)
			clk.BlockUntil(2) // the deadline and the drain's budget
			clk.Advance(budget)
			clk.BlockUntil(2) // the deadline and the margin the flush gets after its budget
			clk.Advance(deadline - budget)
			want := deadline // the late flush returns as the Shutdown calls start
			if !late {
				// The Shutdown calls return at once, with the ended context;
				// the hung flush is abandoned after one margin.
				require.Equal(t, "logs.shutdown", <-logs.entered)
				lifecycle.AwaitCallsEnded(t, 2)
				clk.BlockUntil(1) // the margin
				clk.Advance(lifecycle.AbandonMargin)
				want += lifecycle.AbandonMargin
			}
			o := await(t, res)
			r, err := o.r, o.err
			t.Logf("%s:\n%s", name, r)
			assert.Equal(t, want, r.Duration)

			// The budget ended first: running out of it is not a failure, for
			// the flush that overran it or for the one that never started.
			require.NoError(t, err)
			require.Len(t, r.Components, 2)
			for _, c := range r.Components {
				assert.True(t, c.BudgetExpired, c.Name)
				assert.False(t, c.Abandoned, c.Name)
				assert.NoError(t, c.Err, c.Name)
			}
			requireShutWithEndedContext(t, context.DeadlineExceeded, logs, metrics)
			assert.Nil(t, flushCtxOf(metrics), "metrics' flush is skipped: no time left")
		})
	}
}

// lateFlush's ForceFlush returns its context's error, but only once released.
type lateFlush struct {
	*fakeComponent
	release chan struct{}
}

func (l *lateFlush) ForceFlush(ctx context.Context) error {
	err := l.fakeComponent.ForceFlush(ctx)
	<-l.release
	return err
}

// GracefulWithin(1) drains for all the time there is: the deadline itself
// ends the flush, while metrics waits. That is the overall context ending,
// not a budget: the interrupted drain fails as it would with Flush.
func TestHardeningGracefulWithinOneDeadlineMidFlush(t *testing.T) {
	const deadline = 150 * time.Millisecond
	clk := lifecycle.UseFakeClock(t)
	logs := newFake("logs", nil, honours, fast)
	metrics := newFake("metrics", nil, honours, fast)
	start := clk.Now()
	res := goShutdown(fakeTimeout(t, clk, deadline), lifecycle.GracefulWithin(1),
		lifecycle.Named("logs", logs), lifecycle.Named("metrics", metrics))
	require.Equal(t, "logs.flush", <-logs.entered)
	clk.Advance(deadline)
	o := await(t, res)
	r, err := o.r, o.err
	t.Logf("graceful(1):\n%s", r)
	assert.Equal(t, deadline, r.Duration, "the drain had the whole time, and the shutdown no more")

	var le *lifecycle.Error
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Failures, 1)
	assert.Equal(t, "logs", le.Failures[0].Name)
	assert.Equal(t, lifecycle.OpForceFlush, le.Failures[0].Op)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, lifecycle.ErrAbandoned)
	require.Len(t, r.Components, 2)
	for _, c := range r.Components {
		assert.False(t, c.BudgetExpired, "%s: the overall deadline ended the drain, not a budget", c.Name)
		assert.False(t, c.Abandoned, c.Name)
	}
	assert.NoError(t, r.Components[1].Err)
	requireShutWithEndedContext(t, context.DeadlineExceeded, logs, metrics)
	assert.Nil(t, flushCtxOf(metrics))

	// The drain's deadline is the caller's.
	dl, ok := flushCtxOf(logs).Deadline()
	require.True(t, ok)
	assert.Equal(t, start.Add(deadline), dl)
}

// The same path from a hook: the Manager's timeout (or a second signal) ends
// the shutdown while a hook runs, so no ForceFlush has started yet.
func TestHardeningManagerContextEndsDuringHook(t *testing.T) {
	for _, tc := range []string{"timeout", "second signal"} {
		t.Run(tc, func(t *testing.T) {
			const timeout = 150 * time.Millisecond
			clk := lifecycle.UseFakeClock(t)
			opts := []lifecycle.Option{lifecycle.WithSignals(syscall.SIGUSR2), lifecycle.WithHookTimeout(time.Hour)}
			if tc == "timeout" {
				opts = append(opts, lifecycle.WithTimeout(timeout))
			}
			m := newManager(t, opts...)
			inHook := make(chan struct{})
			var hookCause error
			require.NoError(t, m.AddHook("http", func(ctx context.Context) error {
				close(inHook)
				<-ctx.Done()
				hookCause = context.Cause(ctx)
				return ctx.Err()
			}))
			logs := newFake("logs", nil, honours, fast)
			metrics := newFake("metrics", nil, honours, fast)
			require.NoError(t, m.Register("logs", logs))
			require.NoError(t, m.Register("metrics", metrics))

			var err error
			if tc == "timeout" {
				errc := make(chan error, 1)
				go func() { errc <- m.Shutdown(context.Background()) }()
				<-inHook
				clk.BlockUntil(2) // the Manager's timeout and the hook's
				clk.Advance(timeout)
				err = await(t, errc)
			} else {
				require.NoError(t, m.Listen())
				require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
				<-inHook
				require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2))
				await(t, m.Done())
				err = m.Wait().Err
			}
			r := m.Wait()
			t.Logf("%s during a hook:\n%s", tc, r)
			if tc == "timeout" {
				assert.Equal(t, timeout, r.Duration, "ended by the timeout, with no margin to wait")
			} else {
				assert.Zero(t, r.Duration, "the forced shutdown waits for no timer")
			}
			assert.Equal(t, r.Err, err)
			assert.Equal(t, tc == "second signal", r.Forced)
			require.Len(t, r.Components, 2)
			for _, c := range r.Components {
				assert.False(t, c.BudgetExpired, "%s: no budget was ever started", c.Name)
				assert.False(t, c.Abandoned, c.Name)
				assert.NoError(t, c.Err, c.Name)
			}
			assert.Nil(t, flushCtxOf(logs))
			assert.Nil(t, flushCtxOf(metrics))
			if tc == "timeout" {
				require.ErrorIs(t, err, context.DeadlineExceeded) // the hook's own error
				assert.ErrorIs(t, hookCause, context.DeadlineExceeded)
				requireShutWithEndedContext(t, context.DeadlineExceeded, logs, metrics)
			} else {
				// The hook's own error, as for any hook cut short; the
				// components' forced stop is not a failure.
				var le *lifecycle.Error
				require.ErrorAs(t, err, &le)
				require.Len(t, le.Failures, 1)
				assert.Equal(t, lifecycle.OpHook, le.Failures[0].Op)
				require.ErrorIs(t, err, lifecycle.ErrForced)
				assert.ErrorIs(t, hookCause, lifecycle.ErrForced)
				requireShutWithEndedContext(t, lifecycle.ErrForced, logs, metrics)
			}
		})
	}
}

func TestHardeningGracefulShareValues(t *testing.T) {
	bad := []float64{0, math.Copysign(0, -1), -0.5, -1, math.Inf(-1), math.Inf(1), math.NaN(),
		math.Nextafter(1, 2), 2, math.MaxFloat64, -math.SmallestNonzeroFloat64}
	for _, share := range bad {
		s := lifecycle.GracefulWithin(share)
		j := &journal{}
		err := lifecycle.Shutdown(context.Background(), s, newFake("c", j, fast, fast))
		assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy, "%v", share)
		assert.Empty(t, j.list(), "%v: nothing may be called", share)
		_, err = lifecycle.NewManager(lifecycle.WithStrategy(s))
		assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy, "%v", share)
		_, err = s.MarshalText()
		assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy, "%v", share)
	}
	for _, text := range []string{"graceful(inf)", "graceful(-inf)", "graceful(+Inf)", "graceful(nan)",
		"graceful(-0)", "graceful(1e-400)", "graceful(1e400)", "graceful(0x1p1)"} {
		_, err := lifecycle.ParseStrategy(text)
		assert.ErrorIs(t, err, lifecycle.ErrInvalidStrategy, text)
	}

	t.Run("tiny share drains for no time", func(t *testing.T) {
		c := newFake("c", nil, honours, fast)
		clk := lifecycle.UseFakeClock(t) // never advanced: a budget of nothing has ended already
		ctx := fakeTimeout(t, clk, 5*time.Second)
		o := await(t, goShutdown(ctx, lifecycle.GracefulWithin(math.SmallestNonzeroFloat64), lifecycle.Named("c", c)))
		r, err := o.r, o.err
		require.NoError(t, err)
		assert.Zero(t, r.Duration)
		assert.True(t, r.Components[0].BudgetExpired)
		assert.Nil(t, flushCtxOf(c), "no flush: the budget ended before it")
		sctx := shutCtxOf(t, c)
		assert.NoError(t, sctx.Err(), "Shutdown gets all the time")
		dl, _ := sctx.Deadline()
		ctxDl, _ := ctx.Deadline()
		assert.Equal(t, ctxDl, dl)
	})

	// A deadline so far away that the time left is math.MaxInt64: the drain
	// budget (share × time left) must not overflow into a negative duration,
	// which skipped the drain altogether. On the system clock: the caller's
	// context is, and nothing waits for it.
	for _, share := range []float64{1, math.Nextafter(1, 0), lifecycle.DefaultGracefulShare} {
		t.Run("far deadline "+lifecycle.GracefulWithin(share).String(), func(t *testing.T) {
			ctx, cancel := context.WithDeadline(context.Background(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
			defer cancel()
			var flushErr error
			var flushLeft time.Duration
			c := &funcComponent{flush: func(ctx context.Context) error {
				flushErr = ctx.Err()
				dl, _ := ctx.Deadline()
				flushLeft = time.Until(dl)
				return nil
			}}
			r, err := lifecycle.ShutdownNamed(ctx, lifecycle.GracefulWithin(share), lifecycle.Named("c", c))
			require.NoError(t, err)
			require.True(t, c.flushed, "ForceFlush must be called")
			require.NoError(t, flushErr, "the drain must get a live context")
			assert.Greater(t, flushLeft, 1000*time.Hour)
			assert.False(t, r.Components[0].BudgetExpired)
		})
	}
}

func TestHardeningDurationOptions(t *testing.T) {
	for _, d := range []time.Duration{0, -1, -time.Second, math.MinInt64} {
		_, err := lifecycle.NewManager(lifecycle.WithTimeout(d))
		assert.ErrorIs(t, err, lifecycle.ErrInvalidOption, "timeout %v", d)
		_, err = lifecycle.NewManager(lifecycle.WithHookTimeout(d))
		assert.ErrorIs(t, err, lifecycle.ErrInvalidOption, "hook timeout %v", d)
	}

	// The largest durations are valid, and the caller's context still bounds
	// the shutdown.
	const deadline = 150 * time.Millisecond
	clk := lifecycle.UseFakeClock(t)
	start := clk.Now()
	m := newManager(t, lifecycle.WithTimeout(math.MaxInt64), lifecycle.WithHookTimeout(math.MaxInt64),
		lifecycle.WithStrategy(lifecycle.GracefulWithin(1)))
	var hookDeadline time.Time
	require.NoError(t, m.AddHook("h", func(ctx context.Context) error {
		hookDeadline, _ = ctx.Deadline()
		return nil
	}))
	c := newFake("c", nil, honours, fast)
	require.NoError(t, m.Register("c", c))
	errc := make(chan error, 1)
	go func() { errc <- m.Shutdown(fakeTimeout(t, clk, deadline)) }()
	require.Equal(t, "c.flush", <-c.entered)
	clk.Advance(deadline)
	err := await(t, errc)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the drain had the whole time and was cut off")
	assert.Equal(t, deadline, m.Wait().Duration, "ended by the caller's deadline; every call returned at once")
	assert.Equal(t, start.Add(deadline), hookDeadline, "the hook is bounded by the caller's deadline")
	requireShutWithEndedContext(t, context.DeadlineExceeded, c)

	// And without one, by the Manager's own timeout: MaxInt64 is not "none".
	m2 := newManager(t, lifecycle.WithTimeout(math.MaxInt64))
	c2 := newFake("c2", nil, fast, fast)
	require.NoError(t, m2.Register("c2", c2))
	require.NoError(t, m2.Shutdown(context.Background()))
	dl, ok := shutCtxOf(t, c2).Deadline()
	require.True(t, ok)
	assert.Equal(t, clk.Now().Add(math.MaxInt64), dl)
}

// funcComponent is a Component (and RecordCounter) made of functions; nil
// ones return at once.
type funcComponent struct {
	flush, shutdown func(context.Context) error
	counts          func() (uint64, uint64)

	mu              sync.Mutex
	flushed, closed bool
}

func (c *funcComponent) ForceFlush(ctx context.Context) error {
	c.mu.Lock()
	c.flushed = true
	c.mu.Unlock()
	if c.flush == nil {
		return nil
	}
	return c.flush(ctx)
}

func (c *funcComponent) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	if c.shutdown == nil {
		return nil
	}
	return c.shutdown(ctx)
}

func (c *funcComponent) wasClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// countingFunc is a funcComponent that also counts.
type countingFunc struct{ *funcComponent }

func (c countingFunc) RecordCounts() (uint64, uint64) { return c.counts() }

// RecordCounts is user code too: one that panics or blocks must neither crash
// nor hang the shutdown.
func TestHardeningRecordCounts(t *testing.T) {
	const deadline = 300 * time.Millisecond
	for _, tc := range []struct {
		name     string
		badCall  int  // which reading misbehaves: 1 before the first call, 2 after Shutdown
		blocks   bool // blocks (until the test ends) instead of panicking
		hungShut bool // the component's Shutdown is abandoned too
		strategy lifecycle.Strategy
	}{
		{"first reading panics", 1, false, false, lifecycle.Graceful},
		{"last reading panics", 2, false, false, lifecycle.Graceful},
		{"last reading of an abandoned component panics", 2, false, true, lifecycle.Flush},
		{"first reading blocks", 1, true, false, lifecycle.Graceful},
		{"last reading blocks", 2, true, false, lifecycle.Flush},
		{"last reading of an abandoned component blocks", 2, true, true, lifecycle.Graceful},
		{"immediate, first reading blocks", 1, true, false, lifecycle.Immediate},
		{"immediate, last reading blocks", 2, true, false, lifecycle.Immediate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			var mu sync.Mutex
			readings := 0
			bad := &funcComponent{counts: func() (uint64, uint64) {
				mu.Lock()
				readings++
				n := readings
				mu.Unlock()
				if n == tc.badCall {
					if tc.blocks {
						<-release
					} else {
						panic("counter panic")
					}
				}
				return uint64(10 * n), 0
			}}
			badShut := make(chan struct{}) // closed as bad's Shutdown is called
			gate := make(chan struct{})    // closed to let bad's Shutdown return, when it is not hung
			bad.shutdown = func(context.Context) error {
				close(badShut)
				if tc.hungShut {
					<-release
				} else {
					<-gate
				}
				return nil
			}
			good := &countingComponent{onShutdown: func(c *countingComponent) { c.exported.Add(4) }}

			clk := lifecycle.UseFakeClock(t)
			res := goShutdown(fakeTimeout(t, clk, deadline), tc.strategy,
				lifecycle.Named("bad", countingFunc{bad}), lifecycle.Named("good", good))
			// A reading that does not return costs one more AbandonMargin,
			// and so does a Shutdown that does not; nothing else makes the
			// shutdown wait.
			var want time.Duration
			if tc.badCall == 1 && tc.blocks {
				// The first readings share a margin, made as bad's is
				// found running; good's must have been seen before it ends.
				lifecycle.AwaitCallsEnded(t, 1)
				lifecycle.AwaitTimersMade(t, 1)
				clk.Advance(lifecycle.AbandonMargin)
				want += lifecycle.AbandonMargin
			}
			<-badShut
			waiting := 2 // the deadline and bad's share of it
			if tc.strategy == lifecycle.Graceful {
				waiting++ // the drain's budget
			}
			// The calls that end before the last readings' margin, when
			// bad's blocks: the first readings, the flushes, the Shutdown
			// calls that return, good's last reading.
			ended := 6
			switch {
			case tc.hungShut:
				// bad's Shutdown gets half the time left, then a margin.
				clk.BlockUntil(waiting)
				clk.Advance(deadline / 2)
				clk.BlockUntil(waiting) // the share's margin instead of the share
				clk.Advance(lifecycle.AbandonMargin)
				want += deadline/2 + lifecycle.AbandonMargin
			case tc.strategy == lifecycle.Immediate:
				// Both Shutdown calls start at once, then a margin for
				// them; the last readings' margin is the next timer.
				ended = 5         // no flushes
				clk.BlockUntil(2) // the deadline and that margin
				made := lifecycle.TimersMade(t)
				close(gate)
				if tc.badCall == 2 && tc.blocks {
					lifecycle.AwaitTimersMade(t, made+1)
				}
			default:
				close(gate)
				ended++ // bad's Shutdown
			}
			if tc.badCall == 2 && tc.blocks {
				// The last readings share a margin; good's must have been
				// seen before it ends.
				lifecycle.AwaitCallsEnded(t, ended)
				if tc.strategy != lifecycle.Immediate {
					clk.BlockUntil(waiting) // that margin instead of bad's share
				}
				clk.Advance(lifecycle.AbandonMargin)
				want += lifecycle.AbandonMargin
			}
			o := await(t, res)
			r, err := o.r, o.err
			t.Logf("%s", r)
			assert.Equal(t, want, r.Duration)

			assert.True(t, bad.wasClosed(), "the component is still shut down")
			var ce *lifecycle.ComponentError
			require.ErrorAs(t, err, &ce)
			var le *lifecycle.Error
			require.ErrorAs(t, err, &le)
			var countsErr *lifecycle.ComponentError
			for _, f := range le.Failures {
				if f.Op == lifecycle.OpRecordCounts {
					require.Nil(t, countsErr, "one counts failure")
					countsErr = f
				}
			}
			require.NotNil(t, countsErr, "the counts failure is reported: %v", err)
			assert.Equal(t, "bad", countsErr.Name)
			if tc.blocks {
				assert.ErrorIs(t, countsErr, lifecycle.ErrAbandoned)
				assert.True(t, countsErr.Abandoned)
				assert.Contains(t, countsErr.Error(), "bad record_counts: abandoned")
			} else {
				assert.ErrorIs(t, countsErr, lifecycle.ErrPanicked)
				assert.Contains(t, countsErr.Error(), "counter panic")
			}
			require.Len(t, r.Components, 2)
			assert.False(t, r.Components[0].HasCounts, "counts that could not be read are not reported")
			assert.Zero(t, r.Components[0].Exported)
			assert.Equal(t, tc.hungShut || tc.blocks, r.Components[0].Abandoned)
			// The other component is unaffected.
			assert.True(t, r.Components[1].HasCounts)
			assert.Equal(t, uint64(4), r.Components[1].Exported)
			assert.NoError(t, r.Components[1].Err)
		})
	}
}

// A counter that goes backwards (reset on Shutdown) must not wrap around to
// 18446744073709551615 records.
func TestHardeningRecordCountsBackwards(t *testing.T) {
	c := &countingComponent{}
	c.exported.Store(100)
	c.dropped.Store(100)
	c.onShutdown = func(c *countingComponent) { c.exported.Store(3); c.dropped.Store(150) }
	r, err := lifecycle.ShutdownNamed(context.Background(), lifecycle.Flush, lifecycle.Named("c", c))
	require.NoError(t, err)
	assert.Zero(t, r.Components[0].Exported)
	assert.Equal(t, uint64(50), r.Components[0].Dropped)
}

// runtime.Goexit (t.FailNow in a hook, say) ends a call without a return:
// that is not success.
func TestHardeningGoexitIsAFailure(t *testing.T) {
	exit := func(context.Context) error { runtime.Goexit(); return nil }
	c := &funcComponent{shutdown: exit}
	after := newFake("after", nil, fast, fast)
	m := newManager(t, lifecycle.WithStrategy(lifecycle.Flush))
	require.NoError(t, m.AddHook("h", exit))
	require.NoError(t, m.Register("c", c))
	require.NoError(t, m.Register("after", after))
	err := m.Shutdown(context.Background())
	require.ErrorIs(t, err, lifecycle.ErrPanicked)
	var le *lifecycle.Error
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Failures, 2)
	assert.Equal(t, lifecycle.OpHook, le.Failures[0].Op)
	assert.Equal(t, lifecycle.OpShutdown, le.Failures[1].Op)
	assert.Contains(t, err.Error(), "Goexit")
	assert.Equal(t, "after.shutdown", lastEntered(t, after))
}

// panicIsErr is an error whose Is method panics, as a typed nil *T does when
// Is reads a field.
type panicIsErr struct{ target error }

func (e *panicIsErr) Error() string        { return "custom failure" }
func (e *panicIsErr) Is(target error) bool { return e.target == target }

func TestHardeningErrorMethodsArePartOfUserCode(t *testing.T) {
	var typedNil *panicIsErr
	inShutdown := make(chan struct{})
	c := &funcComponent{
		flush:    func(context.Context) error { return typedNil },
		shutdown: func(ctx context.Context) error { close(inShutdown); <-ctx.Done(); return typedNil },
	}
	const deadline = 100 * time.Millisecond
	clk := lifecycle.UseFakeClock(t)
	res := goShutdown(fakeTimeout(t, clk, deadline), lifecycle.Graceful, lifecycle.Named("c", c))
	<-inShutdown
	clk.Advance(deadline)
	o := await(t, res)
	r, err := o.r, o.err
	assert.Equal(t, deadline, r.Duration)
	require.Error(t, err)
	require.Len(t, r.Components, 1)
	var le *lifecycle.Error
	require.ErrorAs(t, err, &le)
	require.Len(t, le.Failures, 2)
	assert.Equal(t, lifecycle.OpForceFlush, le.Failures[0].Op)
	assert.Same(t, typedNil, le.Failures[0].Err)
	assert.Equal(t, lifecycle.OpShutdown, le.Failures[1].Op)

	// A panic with an error value keeps it in the chain.
	errValue := errors.New("value")
	_, err = lifecycle.ShutdownNamed(context.Background(), lifecycle.Flush,
		lifecycle.Named("p", &funcComponent{shutdown: func(context.Context) error { panic(errValue) }}))
	require.ErrorIs(t, err, lifecycle.ErrPanicked)
	require.ErrorIs(t, err, errValue)
}

// methodFunc and methodMap are nil-able non-pointer component types.
type methodFunc func(context.Context) error

func (f methodFunc) ForceFlush(ctx context.Context) error { return f(ctx) }
func (f methodFunc) Shutdown(ctx context.Context) error   { return f(ctx) }

type methodMap map[string]int

func (methodMap) ForceFlush(context.Context) error { return nil }
func (m methodMap) Shutdown(context.Context) error { m["shut"]++; return nil }

func TestHardeningNilComponents(t *testing.T) {
	var nilFunc methodFunc
	var nilMap methodMap
	var nilPtr *fakeComponent
	var nilIface lifecycle.Component
	ok := newFake("ok", nil, fast, fast)
	for _, s := range strategies {
		r, err := lifecycle.ShutdownNamed(context.Background(), s,
			lifecycle.Named("func", nilFunc), lifecycle.Named("map", nilMap), lifecycle.Named("ptr", nilPtr),
			lifecycle.Named("iface", nilIface), lifecycle.Named("ok", ok),
			lifecycle.Named("counted", lifecycle.Counted(nilPtr, &countingComponent{})))
		var le *lifecycle.Error
		require.ErrorAs(t, err, &le, s.String())
		require.Len(t, le.Failures, 5, s.String())
		for _, f := range le.Failures {
			assert.ErrorIs(t, f, lifecycle.ErrNilComponent, f.Name)
		}
		assert.NoError(t, r.Components[4].Err)
		assert.Equal(t, "ok.shutdown", lastEntered(t, ok))
	}

	m := newManager(t)
	for name, c := range map[string]lifecycle.Component{"func": nilFunc, "map": nilMap, "ptr": nilPtr, "iface": nilIface} {
		assert.ErrorIs(t, m.Register(name, c), lifecycle.ErrNilComponent, name)
	}
	// A typed nil counter is no counter.
	wrapped := lifecycle.Counted(ok, (*countingComponent)(nil))
	assert.Same(t, ok, wrapped)

	// An empty Group is a valid component that does nothing, not a nil one.
	require.NoError(t, m.Register("empty", lifecycle.Group()))
	require.NoError(t, lifecycle.Shutdown(context.Background(), lifecycle.Flush, lifecycle.Group()))
	require.NoError(t, lifecycle.Shutdown(context.Background(), lifecycle.Flush, lifecycle.Group([]lifecycle.Component{}...)))
	err := lifecycle.Shutdown(context.Background(), lifecycle.Flush, lifecycle.Group(nilPtr))
	require.ErrorIs(t, err, lifecycle.ErrNilComponent, "the nil member is reported")
}

// Once the shutdown has finished the Manager leaves no goroutine behind, even
// before Stop.
func TestHardeningManagerLeavesNoGoroutine(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	const timeout = 100 * time.Millisecond
	clk := lifecycle.UseFakeClock(t)
	m := newManager(t, lifecycle.WithSignals(syscall.SIGUSR1), lifecycle.WithTimeout(timeout))
	inHook := make(chan struct{})
	require.NoError(t, m.AddHook("h", func(ctx context.Context) error { close(inHook); <-ctx.Done(); return nil }))
	require.NoError(t, m.Register("c", newFake("c", nil, honours, honours)))
	require.NoError(t, m.Listen())
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	<-inHook
	clk.Advance(timeout) // every call then returns at once
	await(t, m.Done())
	assert.Equal(t, timeout, m.Wait().Duration)
	// A late signal is no longer the Manager's: it has its default effect,
	// which for SIGUSR1 in a Go program is none.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	goleak.VerifyNone(t, opt)
	assert.False(t, m.Wait().Forced)
}

// Concurrent Shutdown calls and a second signal during them: one shutdown,
// every caller returns, nothing waits for ever.
func TestHardeningManagerConcurrentShutdownAndSignal(t *testing.T) {
	m := newManager(t, lifecycle.WithSignals(syscall.SIGUSR2), lifecycle.WithTimeout(time.Minute))
	logs := newFake("logs", nil, honours, honours)
	require.NoError(t, m.Register("logs", logs))
	require.NoError(t, m.Listen())
	errs := make(chan error, 4)
	for range 3 {
		go func() { errs <- m.Shutdown(context.Background()) }()
	}
	require.Equal(t, "logs.flush", <-logs.entered)
	// A caller whose context ends stops waiting without affecting the rest.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, m.Shutdown(ctx), context.Canceled)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR2)) // the first signal forces: Shutdown started it
	for range 3 {
		select {
		case err := <-errs:
			assert.NoError(t, err)
		case <-time.After(time.Second + lifecycle.AbandonMargin):
			t.Fatal("a Shutdown caller was left waiting")
		}
	}
	r := m.Wait()
	assert.True(t, r.Forced)
	assert.Equal(t, lifecycle.Immediate, r.Components[0].Strategy)
}

// A panicking member of a Group must not keep the members after it from being
// called: Group(provider, processor) exists so that the processor is shut
// down (and counts) in every case.
func TestHardeningGroupMemberPanics(t *testing.T) {
	j := &journal{}
	provider := newFake("provider", j, panics, panics)
	proc := &countingComponent{onShutdown: func(c *countingComponent) { j.add("processor.shutdown"); c.dropped.Add(7) }}
	r, err := lifecycle.ShutdownNamed(ctxWithTimeout(t, 5*time.Second), lifecycle.Flush,
		lifecycle.Named("logs", lifecycle.Group(provider, proc)))
	require.ErrorIs(t, err, lifecycle.ErrPanicked)
	assert.Contains(t, err.Error(), "group member 0")
	assert.Equal(t, []string{"provider.flush", "provider.shutdown", "processor.shutdown"}, j.list())
	require.Len(t, r.Components, 1)
	assert.Equal(t, uint64(7), r.Components[0].Dropped)

	// A member's error whose Error method panics is still reported.
	var typedNil *nilErrorText
	g := lifecycle.Group(&funcComponent{shutdown: func(context.Context) error { return typedNil }}, newFake("after", j, fast, fast))
	err = g.Shutdown(context.Background())
	require.Error(t, err)
	assert.Equal(t, "after.shutdown", j.list()[len(j.list())-1])
}

// nilErrorText's Error method panics on a nil receiver.
type nilErrorText struct{ text string }

func (e *nilErrorText) Error() string { return e.text }
