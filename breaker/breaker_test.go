package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/internal/clock"

	"github.com/steadylog/steadylog/retry"
)

func TestEnumStrings(t *testing.T) {
	assert.Equal(t, "closed", Closed.String())
	assert.Equal(t, "half-open", HalfOpen.String())
	assert.Equal(t, "open", Open.String())
	assert.Equal(t, "State(7)", State(7).String())
	assert.Equal(t, "count", CountWindow.String())
	assert.Equal(t, "time", TimeWindow.String())
	assert.Equal(t, "WindowKind(9)", WindowKind(9).String())
	assert.Equal(t, "success", OutcomeSuccess.String())
	assert.Equal(t, "failure", OutcomeFailure.String())
	assert.Equal(t, "ignored", OutcomeIgnored.String())
	assert.Equal(t, "Outcome(-1)", Outcome(-1).String())
}

func TestNewBreakerIsClosedAndAdmits(t *testing.T) {
	b := MustNew(Config{})
	assert.Equal(t, Closed, b.State())
	assert.True(t, b.RetryAt().IsZero())
	done, err := b.Allow()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), b.Counts().InFlight())
	done(nil)
	c := b.Counts()
	assert.Equal(t, uint64(1), c.Requests)
	assert.Equal(t, uint64(1), c.Successes)
	assert.Zero(t, c.InFlight())
}

// TestEveryTransition walks Closed -> Open -> HalfOpen -> Open -> HalfOpen ->
// Closed and checks the callback sees each change, in order, with the name.
func TestEveryTransition(t *testing.T) {
	clk := newFakeClock()
	var rec transitions
	b := MustNew(Config{
		Name: "otlp", ConsecutiveFailures: 2, OpenTimeout: time.Second, Clock: clk,
		Rand: noJitter, OnStateChange: rec.record,
	})

	failN(t, b, 1)
	assert.Equal(t, Closed, b.State(), "one failure is below the threshold")
	failN(t, b, 1)
	assert.Equal(t, Open, b.State())

	_, err := b.Allow()
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, Open, oe.State)
	assert.Equal(t, clk.Now().Add(time.Second), oe.RetryAt)

	clk.Advance(time.Second - 1)
	assert.Equal(t, Open, b.State(), "wait not over yet")
	clk.Advance(1)
	assert.Equal(t, HalfOpen, b.State(), "half-opens exactly when the wait ends")

	failN(t, b, 1) // failed probe
	assert.Equal(t, Open, b.State())
	clk.Advance(2 * time.Second) // backed-off wait
	assert.Equal(t, HalfOpen, b.State())
	succeedN(t, b, 1)
	assert.Equal(t, Closed, b.State())

	assert.Equal(t, []string{
		"otlp:closed->open", "otlp:open->half-open", "otlp:half-open->open",
		"otlp:open->half-open", "otlp:half-open->closed",
	}, rec.list())
	c := b.Counts()
	assert.Equal(t, uint64(2), c.Trips)
	assert.Equal(t, uint64(1), c.Rejected)
}

func TestConsecutiveFailuresResetBySuccess(t *testing.T) {
	b := MustNew(Config{ConsecutiveFailures: 3, Clock: newFakeClock()})
	failN(t, b, 2)
	succeedN(t, b, 1)
	failN(t, b, 2)
	assert.Equal(t, Closed, b.State(), "a success breaks the run")
	assert.Equal(t, uint64(2), b.Counts().ConsecutiveFailures)
	failN(t, b, 1)
	assert.Equal(t, Open, b.State())
}

func TestFailureRateCountWindow(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{
		ConsecutiveFailures: math.MaxInt, WindowSize: 4, MinimumCalls: 4,
		FailureRateThreshold: 0.75, Clock: clk,
	})
	// Windows: [F S S S]=.25 [S S S S]=0 [S S S F]=.25 [S S F F]=.5 [S F F F]=.75.
	// Without eviction the rate at the end would be 4/9.
	failN(t, b, 1)
	succeedN(t, b, 4)
	failN(t, b, 2)
	assert.Equal(t, Closed, b.State())
	failN(t, b, 1)
	assert.Equal(t, Open, b.State(), "3 of the last 4 calls failed")
}

func TestFailureRateNeedsMinimumCalls(t *testing.T) {
	b := MustNew(Config{
		ConsecutiveFailures: math.MaxInt, MinimumCalls: 10, FailureRateThreshold: 0.5,
		Clock: newFakeClock(),
	})
	failN(t, b, 9)
	assert.Equal(t, Closed, b.State(), "9 calls are below the minimum, even at 100% failures")
	failN(t, b, 1)
	assert.Equal(t, Open, b.State())
}

func TestFailureRateThresholdIsInclusive(t *testing.T) {
	b := MustNew(Config{
		ConsecutiveFailures: math.MaxInt, WindowSize: 10, MinimumCalls: 4,
		FailureRateThreshold: 0.5, Clock: newFakeClock(),
	})
	succeedN(t, b, 1)
	failN(t, b, 1)
	succeedN(t, b, 2) // 1/4
	failN(t, b, 1)    // 2/5 = 0.4
	assert.Equal(t, Closed, b.State())
	failN(t, b, 1) // 3/6 = 0.5
	assert.Equal(t, Open, b.State())
}

func TestFailureRateTimeWindow(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{
		ConsecutiveFailures: math.MaxInt, WindowKind: TimeWindow, WindowDuration: 10 * time.Second,
		MinimumCalls: 4, FailureRateThreshold: 0.5, Clock: clk,
	})
	failN(t, b, 3)
	clk.Advance(11 * time.Second) // the three failures leave the window
	failN(t, b, 1)
	succeedN(t, b, 3)
	assert.Equal(t, Closed, b.State(), "1 of 4 calls in the window failed; 4 of 7 overall")
	assert.Equal(t, tally{calls: 4, failures: 1}, b.win.total(clk.Now()))

	clk.Advance(5 * time.Second) // still within the window
	failN(t, b, 2)               // 3 of 6
	assert.Equal(t, Open, b.State())
}

func TestTimeWindowSlidesInBuckets(t *testing.T) {
	w := newTimeWindow(10 * time.Second) // 1 s buckets
	t0 := time.Unix(1000, 0)
	w.record(t0, true, false)
	w.record(t0.Add(500*time.Millisecond), false, true)
	w.record(t0.Add(3*time.Second), true, true)
	assert.Equal(t, tally{calls: 3, failures: 2, slow: 2}, w.total(t0.Add(9*time.Second)))
	assert.Equal(t, tally{calls: 1, failures: 1, slow: 1}, w.total(t0.Add(10*time.Second)),
		"the first bucket left the window")
	assert.Equal(t, tally{}, w.total(t0.Add(13*time.Second)))
	// A bucket reused after a full turn starts empty.
	w.record(t0.Add(20*time.Second), false, false)
	assert.Equal(t, tally{calls: 1}, w.total(t0.Add(20*time.Second)))
	w.reset()
	assert.Equal(t, tally{}, w.total(t0.Add(20*time.Second)))
}

func TestCountWindowReset(t *testing.T) {
	w := newCountWindow(3)
	for range 5 {
		w.record(time.Time{}, true, true)
	}
	assert.Equal(t, tally{calls: 3, failures: 3, slow: 3}, w.total(time.Time{}))
	w.reset()
	assert.Equal(t, tally{}, w.total(time.Time{}))
	w.record(time.Time{}, false, false)
	assert.Equal(t, tally{calls: 1}, w.total(time.Time{}))
}

func TestSlowCallRate(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{
		ConsecutiveFailures: math.MaxInt, MinimumCalls: 4, SlowCallDuration: time.Second,
		SlowCallRateThreshold: 0.5, Clock: clk,
	})
	call(t, b, clk, time.Second, nil) // exactly the threshold: not slow
	call(t, b, clk, 10*time.Millisecond, nil)
	call(t, b, clk, 2*time.Second, nil)
	assert.Equal(t, Closed, b.State(), "below the minimum number of calls")
	assert.Equal(t, uint64(1), b.Counts().SlowCalls)
	call(t, b, clk, 2*time.Second, nil) // 2 of 4 slow successes
	assert.Equal(t, Open, b.State())
	c := b.Counts()
	assert.Equal(t, uint64(2), c.SlowCalls)
	assert.Zero(t, c.Failures, "slow calls trip the breaker without any failure")
}

func TestSlowCallDefaultNeedsEveryCallSlow(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{Clock: clk}) // 10 s, 100%, minimum 10
	for range 9 {
		call(t, b, clk, 11*time.Second, nil)
	}
	call(t, b, clk, time.Millisecond, nil)
	assert.Equal(t, Closed, b.State(), "9 of 10 slow is below 100%")
	for range 9 {
		call(t, b, clk, 11*time.Second, nil)
	}
	assert.Equal(t, Closed, b.State(), "the fast call is still in the window")
}

func TestIgnoredCallsAreNotSlow(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{SlowCallDuration: time.Second, MinimumCalls: 1, Clock: clk})
	call(t, b, clk, time.Hour, context.Canceled)
	assert.Zero(t, b.Counts().SlowCalls)
	assert.Equal(t, Closed, b.State())
}

// tripAndWait trips an already-failing-prone breaker (ConsecutiveFailures: 1)
// and returns the Open wait it chose.
func openWait(t *testing.T, b *Breaker, clk *clock.Fake) time.Duration {
	t.Helper()
	require.Equal(t, Open, b.State())
	return b.RetryAt().Sub(clk.Now())
}

func TestBackoffGrowsToCapAndResetsOnClose(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, MaxOpenTimeout: 5 * time.Second,
		Clock: clk, Rand: noJitter,
	})
	failN(t, b, 1)
	var waits []time.Duration
	for range 5 {
		w := openWait(t, b, clk)
		waits = append(waits, w)
		clk.Advance(w)
		require.Equal(t, HalfOpen, b.State())
		failN(t, b, 1) // failed probe: reopen with a longer wait
	}
	assert.Equal(t, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, waits)

	clk.Advance(openWait(t, b, clk))
	succeedN(t, b, 1)
	require.Equal(t, Closed, b.State())
	failN(t, b, 1)
	assert.Equal(t, time.Second, openWait(t, b, clk), "closing resets the backoff")
}

func TestBackoffMultiplierOneKeepsWaitConstant(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{ConsecutiveFailures: 1, OpenTimeout: 3 * time.Second, BackoffMultiplier: 1, Clock: clk, Rand: noJitter})
	failN(t, b, 1)
	for range 3 {
		w := openWait(t, b, clk)
		assert.Equal(t, 3*time.Second, w)
		clk.Advance(w)
		failN(t, b, 1)
	}
}

func TestJitterBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		jitter float64
		r      float64
		want   time.Duration
	}{
		{"no draw", 0.2, 0, 10 * time.Second},
		{"max draw, default jitter", 0, 1, 8 * time.Second},
		{"half draw, half jitter", 0.5, 0.5, 7500 * time.Millisecond},
		{"full jitter, max draw", 1, 1, 0},
		{"draw above 1 clamped", 0.2, 7, 8 * time.Second},
		{"negative draw clamped", 0.2, -3, 10 * time.Second},
		{"NaN draw clamped", 0.2, math.NaN(), 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			b := MustNew(Config{
				ConsecutiveFailures: 1, OpenTimeout: 10 * time.Second, Jitter: tc.jitter,
				Clock: clk, Rand: func() float64 { return tc.r },
			})
			failN(t, b, 1)
			if tc.want == 0 {
				assert.Equal(t, HalfOpen, b.State(), "a zero wait half-opens at once")
				return
			}
			assert.Equal(t, tc.want, openWait(t, b, clk))
		})
	}
}

func TestJitterStaysWithinBoundsAndCap(t *testing.T) {
	clk := newFakeClock()
	seq := []float64{0.9, 0.1, 0.5, 0.99, 0.3, 0.7}
	i := 0
	b := MustNew(Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, MaxOpenTimeout: 4 * time.Second,
		Jitter: 0.3, Clock: clk, Rand: func() float64 { r := seq[i%len(seq)]; i++; return r },
	})
	failN(t, b, 1)
	nominal := time.Second
	for range len(seq) {
		w := openWait(t, b, clk)
		assert.LessOrEqual(t, w, nominal)
		assert.GreaterOrEqual(t, w, time.Duration(float64(nominal)*0.7))
		assert.LessOrEqual(t, w, 4*time.Second, "never above the cap")
		clk.Advance(w)
		failN(t, b, 1)
		nominal = min(2*nominal, 4*time.Second)
	}
}

func TestRetryAfterLengthensWait(t *testing.T) {
	clk := newFakeClock()
	cfg := Config{ConsecutiveFailures: 1, OpenTimeout: time.Second, MaxOpenTimeout: time.Minute, Clock: clk, Rand: noJitter}

	b := MustNew(cfg)
	require.Error(t, b.Execute(func() error { return retry.After(errBackend, 30*time.Second) }))
	assert.Equal(t, 30*time.Second, openWait(t, b, clk), "server delay longer than the backoff wins")

	b = MustNew(cfg)
	require.Error(t, b.Execute(func() error { return retry.After(errBackend, 100*time.Millisecond) }))
	assert.Equal(t, time.Second, openWait(t, b, clk), "a shorter server delay does not shorten the wait")

	b = MustNew(cfg)
	require.Error(t, b.Execute(func() error { return retry.After(errBackend, 24*time.Hour) }))
	assert.Equal(t, time.Minute, openWait(t, b, clk), "capped at MaxOpenTimeout")
}

func TestRetryAfterFromLateCallExtendsOpenWait(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: noJitter})
	slow, err := b.Allow() // admitted while Closed
	require.NoError(t, err)
	failN(t, b, 1) // trips: wait 1 s
	require.Equal(t, time.Second, openWait(t, b, clk))
	slow(retry.After(errBackend, 20*time.Second))
	assert.Equal(t, 20*time.Second, openWait(t, b, clk))
	assert.Equal(t, uint64(1), b.Counts().Trips, "a late failure does not trip again")
}

func TestHalfOpenProbeLimit(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenMaxCalls: 3, HalfOpenSuccesses: 2,
		Clock: clk, Rand: noJitter,
	})
	failN(t, b, 1)
	clk.Advance(time.Second)
	require.Equal(t, HalfOpen, b.State())

	// Many concurrent callers: exactly three are admitted.
	const callers = 64
	var (
		admitted atomic.Int32
		mu       sync.Mutex
		dones    []func(error)
		refusals []*OpenError
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for range callers {
		wg.Go(func() {
			<-start
			done, err := b.Allow()
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				admitted.Add(1)
				dones = append(dones, done)
				return
			}
			var oe *OpenError
			if errors.As(err, &oe) {
				refusals = append(refusals, oe)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, int32(3), admitted.Load())
	require.Len(t, refusals, callers-3)
	for _, oe := range refusals {
		assert.Equal(t, HalfOpen, oe.State)
		assert.Equal(t, clk.Now().Add(time.Second), oe.RetryAt)
	}
	assert.Equal(t, clk.Now().Add(time.Second), b.RetryAt())

	dones[0](nil)
	assert.Equal(t, HalfOpen, b.State(), "one success of the two needed")
	dones[1](nil)
	assert.Equal(t, Closed, b.State())
	dones[2](errBackend) // late: the breaker has closed since
	assert.Equal(t, Closed, b.State(), "a probe's late result does not reopen a closed breaker")
}

func TestHalfOpenIgnoredProbeFreesSlot(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: noJitter})
	failN(t, b, 1)
	clk.Advance(time.Second)

	done, err := b.Allow()
	require.NoError(t, err)
	_, err = b.Allow()
	require.ErrorIs(t, err, ErrOpen, "the single probe slot is taken")
	assert.False(t, b.RetryAt().IsZero())
	done(context.Canceled) // tells nothing
	assert.Equal(t, HalfOpen, b.State())
	assert.True(t, b.RetryAt().IsZero(), "a probe slot is free again")
	succeedN(t, b, 1)
	assert.Equal(t, Closed, b.State())
}

func TestStaleCallCannotCloseOpenBreaker(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{ConsecutiveFailures: 1, HalfOpenMaxCalls: 1, Clock: clk, Rand: noJitter})
	stale, err := b.Allow() // admitted while Closed
	require.NoError(t, err)
	failN(t, b, 1)
	require.Equal(t, Open, b.State())
	stale(nil)
	assert.Equal(t, Open, b.State())
	assert.Equal(t, uint64(1), b.Counts().Successes, "still counted for telemetry")
}

func TestDefaultClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Outcome
	}{
		{nil, OutcomeSuccess},
		{errBackend, OutcomeFailure},
		{context.DeadlineExceeded, OutcomeFailure},
		{fmt.Errorf("export: %w", context.DeadlineExceeded), OutcomeFailure},
		{context.Canceled, OutcomeIgnored},
		{fmt.Errorf("export: %w", context.Canceled), OutcomeIgnored},
		{retry.Permanent(errBackend), OutcomeIgnored},
		{fmt.Errorf("wrapped: %w", retry.Permanent(errBackend)), OutcomeIgnored},
		{retry.After(errBackend, time.Second), OutcomeFailure},
		{errors.Join(context.Canceled, context.DeadlineExceeded), OutcomeFailure},
	} {
		assert.Equal(t, tc.want, DefaultClassify(tc.err), "%v", tc.err)
	}
}

func TestClassifierDecidesWhatTrips(t *testing.T) {
	t.Run("canceled and permanent never trip", func(t *testing.T) {
		b := MustNew(Config{ConsecutiveFailures: 2, MinimumCalls: 1, Clock: newFakeClock()})
		for range 50 {
			_ = b.Execute(func() error { return context.Canceled })
			_ = b.Execute(func() error { return retry.Permanent(errBackend) })
		}
		assert.Equal(t, Closed, b.State())
		c := b.Counts()
		assert.Equal(t, uint64(100), c.Ignored)
		assert.Zero(t, c.Failures)
	})
	t.Run("deadline exceeded trips", func(t *testing.T) {
		b := MustNew(Config{ConsecutiveFailures: 2, Clock: newFakeClock()})
		for range 2 {
			_ = b.Execute(func() error { return context.DeadlineExceeded })
		}
		assert.Equal(t, Open, b.State())
	})
	t.Run("ignored calls do not break a run of failures", func(t *testing.T) {
		b := MustNew(Config{ConsecutiveFailures: 2, Clock: newFakeClock()})
		failN(t, b, 1)
		_ = b.Execute(func() error { return context.Canceled })
		failN(t, b, 1)
		assert.Equal(t, Open, b.State())
	})
	t.Run("custom classifier", func(t *testing.T) {
		errBusy := errors.New("busy")
		b := MustNew(Config{
			ConsecutiveFailures: 2, Clock: newFakeClock(),
			Classify: func(err error) Outcome {
				if errors.Is(err, errBusy) {
					return OutcomeFailure
				}
				return OutcomeSuccess // everything else is fine
			},
		})
		failN(t, b, 5)
		assert.Equal(t, Closed, b.State(), "errBackend counts as success here")
		_ = b.Execute(func() error { return errBusy })
		_ = b.Execute(func() error { return errBusy })
		assert.Equal(t, Open, b.State())
	})
}

func TestDoneTwiceIsIgnoredAndRefusalDoneIsNoop(t *testing.T) {
	b := MustNew(Config{ConsecutiveFailures: 2, Clock: newFakeClock()})
	done, err := b.Allow()
	require.NoError(t, err)
	done(errBackend)
	done(errBackend)
	done(errBackend)
	c := b.Counts()
	assert.Equal(t, uint64(1), c.Failures)
	assert.Equal(t, Closed, b.State())

	failN(t, b, 1)
	require.Equal(t, Open, b.State())
	refusedDone, err := b.Allow()
	require.ErrorIs(t, err, ErrOpen)
	require.NotNil(t, refusedDone)
	refusedDone(nil)
	assert.Equal(t, Open, b.State())
	assert.Equal(t, uint64(2), b.Counts().Requests)
}

func TestExecute(t *testing.T) {
	b := MustNew(Config{ConsecutiveFailures: 2, Clock: newFakeClock()})
	assert.NoError(t, b.Execute(func() error { return nil }))
	assert.ErrorIs(t, b.Execute(func() error { return errBackend }), errBackend)

	assert.PanicsWithValue(t, "boom", func() {
		_ = b.Execute(func() error { panic("boom") })
	})
	assert.Equal(t, Open, b.State(), "the panic counted as the second failure")

	called := false
	err := b.Execute(func() error { called = true; return nil })
	assert.False(t, called, "an open breaker does not call fn")
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, Open, oe.State)
	assert.Equal(t, uint64(1), b.Counts().Rejected)
}

func TestRetryAt(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{ConsecutiveFailures: 1, OpenTimeout: 4 * time.Second, Clock: clk, Rand: noJitter})
	assert.True(t, b.RetryAt().IsZero())
	failN(t, b, 1)
	assert.Equal(t, clk.Now().Add(4*time.Second), b.RetryAt())
	clk.Advance(4 * time.Second)
	assert.True(t, b.RetryAt().IsZero(), "half-open with a free probe")
	assert.Equal(t, HalfOpen, b.State())
}

func TestOnStateChangeMayCallBreaker(t *testing.T) {
	clk := newFakeClock()
	var seen []State
	var b *Breaker
	b = MustNew(Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: noJitter,
		OnStateChange: func(_ string, _, to State) {
			seen = append(seen, b.State()) // would deadlock if called under the lock
			_ = b.Counts()
			_ = b.RetryAt()
		},
	})
	failN(t, b, 1)
	clk.Advance(time.Second)
	assert.Equal(t, HalfOpen, b.State())
	assert.Equal(t, []State{Open, HalfOpen}, seen)
}

func TestOnStateChangeCallbackCausingTransitionKeepsOrder(t *testing.T) {
	clk := newFakeClock()
	var rec transitions
	var b *Breaker
	b = MustNew(Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: noJitter,
		OnStateChange: func(name string, from, to State) {
			rec.record(name, from, to)
			if to == Open {
				clk.Advance(time.Second)
				_ = b.State() // causes open -> half-open from inside the callback
			}
		},
	})
	failN(t, b, 1)
	assert.Equal(t, []string{":closed->open", ":open->half-open"}, rec.list())
}

func TestOnStateChangePanicDoesNotWedgeNotifications(t *testing.T) {
	clk := newFakeClock()
	var rec transitions
	panicked := false
	b := MustNew(Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: noJitter,
		OnStateChange: func(name string, from, to State) {
			if !panicked {
				panicked = true
				panic("callback bug")
			}
			rec.record(name, from, to)
		},
	})
	assert.Panics(t, func() { failN(t, b, 1) })
	clk.Advance(time.Second)
	assert.Equal(t, HalfOpen, b.State())
	assert.Equal(t, []string{":open->half-open"}, rec.list())
}

// TestConcurrentUse hammers one breaker from many goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	clk := newFakeClock()
	var changes atomic.Int64
	b := MustNew(Config{
		ConsecutiveFailures: 3, OpenTimeout: time.Millisecond, HalfOpenMaxCalls: 2, WindowSize: 20,
		Clock: clk, OnStateChange: func(string, State, State) { changes.Add(1) },
	})
	const workers, perWorker = 8, 500
	var attempts, refused atomic.Uint64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				attempts.Add(1)
				err := b.Execute(func() error {
					switch (w + i) % 5 {
					case 0, 1:
						return errBackend
					case 2:
						return context.Canceled
					}
					return nil
				})
				if errors.Is(err, ErrOpen) {
					refused.Add(1)
				}
				if i%7 == 0 {
					clk.Advance(time.Millisecond)
				}
				_ = b.State()
				_ = b.RetryAt()
			}
		})
	}
	wg.Wait()
	c := b.Counts()
	assert.Equal(t, attempts.Load(), c.Requests+c.Rejected)
	assert.Equal(t, refused.Load(), c.Rejected)
	assert.Zero(t, c.InFlight())
	assert.Positive(t, c.Trips, "40% failures must have tripped the breaker")
	assert.Positive(t, changes.Load())
}

func TestClassifierPanicCountsAsFailure(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk, Rand: noJitter,
		Classify: func(err error) Outcome {
			if err != nil {
				panic("classifier bug")
			}
			return OutcomeSuccess
		},
	})
	done, err := b.Allow()
	require.NoError(t, err)
	assert.PanicsWithValue(t, "classifier bug", func() { done(errBackend) })
	assert.Equal(t, Open, b.State(), "the call counted as a failure")
	clk.Advance(time.Second)
	done, err = b.Allow()
	require.NoError(t, err, "half-open")
	assert.PanicsWithValue(t, "classifier bug", func() { done(errBackend) })
	assert.Equal(t, Open, b.State(), "the probe was not left hanging")
}

func TestUnknownOutcomeIsIgnored(t *testing.T) {
	b := MustNew(Config{ConsecutiveFailures: 1, Clock: newFakeClock(), Classify: func(error) Outcome { return 42 }})
	failN(t, b, 3)
	assert.Equal(t, Closed, b.State())
	assert.Equal(t, uint64(3), b.Counts().Ignored)
}

func TestHungProbeReopensAfterHalfOpenMaxWait(t *testing.T) {
	clk := newFakeClock()
	var rec transitions
	b := MustNew(Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenMaxWait: 30 * time.Second,
		Clock: clk, Rand: noJitter, OnStateChange: rec.record,
	})
	failN(t, b, 1)
	clk.Advance(5 * time.Second) // long after the wait: the probe deadline counts from admission
	require.Equal(t, HalfOpen, b.State())
	hung, err := b.Allow()
	require.NoError(t, err)

	clk.Advance(30*time.Second - 1)
	assert.Equal(t, HalfOpen, b.State(), "still waiting for the probe")
	clk.Advance(1)
	assert.Equal(t, Open, b.State(), "the hung probe counts as a failed one")
	assert.Equal(t, 2*time.Second, b.RetryAt().Sub(clk.Now()), "with the backed-off wait")
	assert.Equal(t, uint64(2), b.Counts().Trips)

	hung(nil) // far too late: ignored for the state
	assert.Equal(t, Open, b.State())
	clk.Advance(2 * time.Second)
	succeedN(t, b, 1)
	assert.Equal(t, Closed, b.State())
	assert.Equal(t, []string{
		":closed->open", ":open->half-open", ":half-open->open", ":open->half-open", ":half-open->closed",
	}, rec.list())
}

func TestHalfOpenWithoutProbesWaitsForTraffic(t *testing.T) {
	clk := newFakeClock()
	b := MustNew(Config{ConsecutiveFailures: 1, OpenTimeout: time.Second, HalfOpenMaxWait: time.Second, Clock: clk, Rand: noJitter})
	failN(t, b, 1)
	clk.Advance(time.Hour)
	assert.Equal(t, HalfOpen, b.State(), "no probe in flight: nothing to time out")
	succeedN(t, b, 1)
	assert.Equal(t, Closed, b.State())
}
